// Topic coverage: which of the protocol's topics the interview reached, and by which questions.
// A topic never reached is "not reached" — a fact about the interview, never a low score. Pure.
import type { Protocol } from '../../protocols/schema.ts';
import { phraseSource, wholeWords } from '../whole-words.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type EventOf, type TranscriptEvent } from '../transcript/events.ts';

export interface Topic {
  topic: string;
  keywords: string[];
}

export const COVERAGE_RULE = 'coverage-rule-1';

export function topicsOf(protocol: Pick<Protocol, 'topics'>): Topic[] {
  return (protocol.topics ?? []).map((t) => (typeof t === 'string' ? { topic: t, keywords: [t] } : { topic: t.topic, keywords: t.keywords }));
}

/**
 * `coverage-rule-1`: a topic is reached by a question when the question, or an answer to it, holds
 * one of the topic's keywords as a whole word or phrase (any case). Consent and withdrawal
 * exchanges do not count.
 */
export function coverage(events: readonly TranscriptEvent[], topics: readonly Topic[]): EventOf<'coverage'>['topics'] {
  const texts = new Map<string, string[]>();
  for (const e of events) {
    if (e.type === 'question') texts.set(e.id, [e.text]);
    if (e.type === 'answer') texts.get(e.questionId)?.push(e.text);
  }
  return topics.map((t) => {
    const re = wholeWords(t.keywords.map(phraseSource), 'iu');
    const questionIds = [...texts].filter(([, ts]) => ts.some((x) => re?.test(x))).map(([id]) => id);
    return { topic: t.topic, reached: questionIds.length > 0, questionIds };
  });
}

/** The coverage event a session records when it ends (one per session). */
export function coverageEvent(sessionKey: string, sessionId: string, at: string, events: readonly TranscriptEvent[], topics: readonly Topic[]): EventOf<'coverage'> {
  return {
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionKey, 'coverage'),
    sessionId,
    at,
    type: 'coverage',
    topics: coverage(events, topics),
    decidedBy: { kind: 'rule', rule: `${COVERAGE_RULE}: a question, or an answer to it, names one of the topic's keywords` },
  };
}

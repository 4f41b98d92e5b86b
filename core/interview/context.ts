// What an interviewed persona reads, and what an auditor reads, built from the session's records.
// Pure: the recorded request of a blind answer can be checked to hold no other persona's answer.
import type { Persona } from '../../personas/schema.ts';
import { buildContext, type BuiltContext } from '../context.ts';
import type { ChannelMessage } from '../messages.ts';
import type { TranscriptEvent } from '../transcript/events.ts';
import { RESEARCHER } from './consent.ts';

type Question = Extract<TranscriptEvent, { type: 'question' }>;

export interface InterviewContext {
  built: BuiltContext;
  /** Ids of the answer events the persona sees (none of another persona's in blind mode). */
  saw: string[];
}

function started(events: readonly TranscriptEvent[]) {
  const header = events.find((e): e is Extract<TranscriptEvent, { type: 'session_started' }> => e.type === 'session_started');
  if (!header) throw new Error('session has no header');
  return header;
}

/** Synthetic, increasing ids: the context builder orders by id and never sends them to a model. */
function asMessage(seq: number, author: { id: string; name: string }, content: string, personaId?: string, second = false): ChannelMessage {
  return { id: String(1_000_000 + 2 * seq + (second ? 1 : 0)), authorId: author.id, authorName: author.name, content, isBot: Boolean(personaId), createdAt: '', ...(personaId ? { personaId } : {}) };
}

/** Who asked, as the transcript knows them: a person's user id, a persona, or chorus. */
function askerOf(q: Question): { id: string; name: string } {
  if (q.askedBy.kind === 'human') return { id: q.askedBy.userId, name: q.askedBy.name };
  if (q.askedBy.kind === 'persona') return { id: q.askedBy.personaId, name: q.askedBy.name };
  return { id: 'system', name: 'Interviewer' };
}

/** The persona with the session's disclosure in its system prompt, when the protocol gives it to models. */
export function disclosed(persona: Persona, events: readonly TranscriptEvent[]): Persona {
  const disclosure = events.find((e): e is Extract<TranscriptEvent, { type: 'disclosure' }> => e.type === 'disclosure');
  return disclosure?.toModels ? { ...persona, systemPrompt: `${persona.systemPrompt.trim()}\n\n${disclosure.text.trim()}`.trim() } : persona;
}

/**
 * The persona's view of the interview when it answers `questionId`: the overview it was given for
 * its consent and its own reply (never another's); every question so far; its own answers; in
 * sequential mode the other personas' answers given before it, in blind mode none.
 */
export function answerContext(persona: Persona, events: readonly TranscriptEvent[], questionId: string, maxTokens: number): InterviewContext {
  const header = started(events);
  const blind = header.mode === 'blind';
  const history: ChannelMessage[] = [];
  const answerOf = new Map<string, string>(); // message id → answer event id, for other personas' answers
  let trigger: ChannelMessage | undefined;
  for (const [i, e] of events.entries()) {
    if (e.type === 'consent' && e.persona.personaId === persona.id) {
      // chorus's own words (not a person's: never pseudonymised or withheld as one).
      history.push({ ...asMessage(e.seq ?? i, RESEARCHER, e.overview), isBot: true });
      history.push(asMessage(e.seq ?? i, { id: persona.id, name: persona.name }, e.text, persona.id, true));
    } else if (e.type === 'question') {
      const m = { ...asMessage(e.seq ?? i, askerOf(e), e.text), isBot: e.askedBy.kind !== 'human' };
      history.push(m);
      if (e.id === questionId) trigger = m;
    } else if (e.type === 'answer') {
      const own = e.persona.personaId === persona.id;
      if (!own && blind) continue; // blind: another persona's answer is never in the context
      // An answer with no text said nothing to read (a bare "Name:" line would invite the reader to speak for it).
      if (!e.text.trim()) continue;
      const m = asMessage(e.seq ?? i, { id: e.persona.personaId, name: e.persona.name }, e.text, e.persona.personaId);
      history.push(m);
      if (!own) answerOf.set(m.id, e.id);
    }
  }
  if (!trigger) throw new Error(`question ${questionId} is not in the session`);
  const reader = disclosed(persona, events);
  // Later questions cannot exist yet; answers after this question are the round's earlier ones.
  const built = buildContext(reader, history, trigger, { maxMessages: 10_000, maxTokens });
  return { built, saw: built.keptIds.flatMap((id) => answerOf.get(id) ?? []) };
}

/** The reply the auditor gives after a round: a question, move on, or close. Pure. */
export type AuditorMove = { kind: 'follow-up'; text: string } | { kind: 'next' } | { kind: 'end' };

export function parseAuditorReply(text: string): AuditorMove {
  const t = text.trim();
  if (/^END\b/i.test(t)) return { kind: 'end' };
  if (/^NEXT\b/i.test(t) || t === '') return { kind: 'next' };
  return { kind: 'follow-up', text: t.replace(/^(follow-?up|question)\s*:\s*/i, '').slice(0, 1800) };
}

/** The auditor's own context: the whole interview so far, as a transcript, and what to reply. */
export function auditorContext(auditor: Persona, instructions: string, events: readonly TranscriptEvent[], followUpsLeft: number, maxTokens: number, blind = false): BuiltContext {
  const header = started(events);
  const lines: string[] = [];
  for (const e of events) {
    if (e.type === 'question') lines.push(`Question ${e.index} (${e.source === 'auditor' ? 'your follow-up' : 'scripted'}): ${e.text}`);
    if (e.type === 'answer') lines.push(e.text.trim() ? `${e.persona.name}: ${e.text}` : `(${e.persona.name} gave no answer.)`);
    if (e.type === 'consent' && e.decision === 'declines') lines.push(`(${e.persona.name} declined to take part.)`);
    if (e.type === 'withdrawal') lines.push(`(${e.persona.name} withdrew and is asked nothing more.)`);
  }
  const ask =
    followUpsLeft > 0
      ? `You may ask ${followUpsLeft} more follow-up question(s). Reply with one follow-up question, or NEXT to move on to the next scripted question, or END to close the interview.${blind ? " This interview is blind: a follow-up goes to every persona, and none may learn another's answer, so do not quote or restate any answer in it." : ''}`
      : 'You have no follow-ups left. Reply NEXT to move on, or END to close the interview.';
  const system = [auditor.systemPrompt.trim(), instructions.trim(), header.protocol ? `Purpose of the interview: ${header.protocol.purpose.trim()}` : ''].filter(Boolean).join('\n\n');
  const trigger = { ...asMessage(1, { id: 'system', name: 'Moderator' }, `The interview so far:\n\n${lines.join('\n\n')}\n\n${ask}`), isBot: true };
  return buildContext({ ...auditor, systemPrompt: system, contextMode: 'chat' }, [], trigger, { maxMessages: 1, maxTokens });
}

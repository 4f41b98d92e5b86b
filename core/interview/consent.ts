// Consent: what each persona is told before its first question, how its answer is classified, how
// a withdrawal is recognised, and who is still taking part. Pure, over the session's records.
import type { Persona } from '../../personas/schema.ts';
import type { Protocol } from '../../protocols/schema.ts';
import { buildContext, type BuiltContext } from '../context.ts';
import type { ChannelMessage } from '../messages.ts';
import type { EventOf, TranscriptEvent } from '../transcript/events.ts';

export type ConsentDecision = EventOf<'consent'>['decision'];

/** The speaker of the overview in a persona's context. */
export const RESEARCHER = { id: 'system', name: 'Researcher' } as const;

/**
 * The overview a persona is given: the protocol's three facts (what the study is, who reads it, how
 * it is published) and a fixed closing that it may decline or stop, and how. The same words for
 * every persona, with nothing said for or against taking part.
 */
export function consentOverview(consent: NonNullable<Protocol['consent']>): string {
  return [
    'Before this interview begins, we ask whether you agree to take part.',
    `The study: ${consent.study.trim()}`,
    `Who will read it: ${consent.readers.trim()}`,
    `How it is published: ${consent.publication.trim()}`,
    'You may decline. If you take part, you may stop at any point by saying that you withdraw; you will then be asked nothing more.',
    'Do you agree to take part? You may agree, decline, or agree on conditions (say which).',
  ].join('\n');
}

/** The rule's name as recorded in `classifiedBy`: change it whenever the rule changes. */
export const CONSENT_RULE = 'consent-rule-1';

const DECLINE = [
  /\bI\s+(?:do\s+not|don['’]t|cannot|can['’]t|will\s+not|won['’]t)\s+(?:consent|agree|take\s+part|participate)\b/i,
  /\bI\s+(?:must\s+|have\s+to\s+|respectfully\s+)?(?:decline|refuse)\b/i,
  /\bI(?:\s+would|['’]d)\s+(?:rather|prefer)\s+not\b/i,
  /\bI\s+(?:prefer|choose)\s+not\s+to\b/i,
  /\bI\s+am\s+not\s+(?:willing|comfortable)\b|\bI['’]m\s+not\s+(?:willing|comfortable)\b/i,
  /^\s*(?:no|decline[sd]?)\b(?!\s+(?:problem|worries|objections?|concerns?))/i,
];
const AGREE = [
  /\bI\s+(?:(?:do|hereby|fully|happily|gladly)\s+)?(?:agree|consent)\b/i,
  /\bI(?:\s+am|['’]m)\s+(?:happy|glad|willing|pleased|comfortable)\s+to\s+(?:take\s+part|participate|proceed|join|be\s+interviewed|continue|help|answer)\b/i,
  /\bI(?:\s+would|['’]d)\s+be\s+(?:happy|glad|willing|pleased)\s+to\b/i,
  /\bI(?:\s+will|['’]ll)\s+(?:take\s+part|participate)\b/i,
  /^\s*(?:yes|agreed?|sure|certainly|of\s+course|absolutely)\b/i,
  /\b(?:I\s+have\s+)?no\s+objections?\b/i,
];
/** Words that introduce a condition on agreeing. */
const CONDITION = /\b(?:on\s+(?:the\s+)?condition|provided\s+that|providing\s+that|as\s+long\s+as|so\s+long\s+as|only\s+if|on\s+(?:one|two|the\s+following)\s+conditions?|with\s+(?:one|the|a|these)\s+(?:condition|caveat|request)s?|my\s+conditions?|I\s+ask\s+that|I\s+request\s+that|please\s+(?:do\s+not|don['’]t|make\s+sure|ensure)|conditions?\s*:)/i;

/** Sentences of a text (rough: on ., !, ? and line breaks). */
function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+|\n+/).map((s) => s.trim()).filter(Boolean);
}

/**
 * The documented rule (`consent-rule-1`), applied to the persona's own words:
 * 1. a clear refusal ("I decline", "I do not consent", "I'd rather not", "I'm not comfortable",
 *    an answer opening with "No") → declines, whatever else it says;
 * 2. else a clear agreement ("I agree", "I consent", "I'm happy to take part", an answer opening
 *    with "Yes") together with a condition ("provided that", "as long as", "only if", "I ask that",
 *    "please don't", "conditions:") → conditions, which are the sentences holding them;
 * 3. else a clear agreement → agrees;
 * 4. else (no clear agreement, an empty or evasive answer) → declines: silence is not consent.
 */
export function classifyConsent(text: string): { decision: ConsentDecision; conditions?: string; rule: string } {
  const t = text.trim();
  if (DECLINE.some((r) => r.test(t))) return { decision: 'declines', rule: `${CONSENT_RULE}: a clear refusal` };
  if (AGREE.some((r) => r.test(t))) {
    const held = sentences(t).filter((s) => CONDITION.test(s));
    if (held.length) return { decision: 'conditions', conditions: held.join(' ').slice(0, 1500), rule: `${CONSENT_RULE}: agreement with conditions` };
    return { decision: 'agrees', rule: `${CONSENT_RULE}: a clear agreement` };
  }
  return { decision: 'declines', rule: `${CONSENT_RULE}: no clear agreement, which is not consent` };
}

const WITHDRAW = [
  /\bI\s+(?:(?:hereby|now)\s+)?(?:withdraw|revoke|retract)\b/i,
  /\bI(?:\s+am|['’]m)\s+(?:now\s+)?withdrawing\b/i,
  /\bI\s+(?:do\s+not|don['’]t|no\s+longer)\s+(?:wish|want|consent|agree)\s+to\s+(?:continue|take\s+part|participate|go\s+on|be\s+interviewed)\b/i,
  /\bI\s+no\s+longer\s+consent\b/i,
  /\bI(?:\s+would|['’]d)\s+like\s+to\s+stop\s+(?:here|now|taking\s+part|participating|the\s+interview|this\s+interview)\b/i,
  /\bI\s+(?:want|wish)\s+to\s+stop\s+(?:here|now|taking\s+part|participating|the\s+interview|this\s+interview)\b/i,
  /\bI(?:\s+am|['’]m)\s+(?:stopping|ending\s+my\s+participation)\b/i,
];
/** A sentence about a possibility, not a decision. */
const HYPOTHETICAL = /\b(?:if|unless|whether|could|might|hypothetically|imagine|suppose)\b/i;

/**
 * Whether an answer clearly withdraws from the session: the persona says, in the first person and
 * present tense, that it withdraws or wants to stop taking part ("I withdraw", "I no longer wish to
 * continue", "I'd like to stop here"). Talk about withdrawing ("I could withdraw", "models may
 * wish to stop") is not a withdrawal; a conditional or hypothetical is not either.
 */
export function withdraws(text: string): boolean {
  return sentences(text).some((s) => WITHDRAW.some((r) => r.test(s)) && !HYPOTHETICAL.test(s));
}

/** The persona's view when asked for consent: its own system prompt (with the disclosure, as when it answers) and the overview. */
export function consentContext(reader: Persona, overview: string, maxTokens: number): BuiltContext {
  const trigger: ChannelMessage = { id: '1000000', authorId: RESEARCHER.id, authorName: RESEARCHER.name, content: overview, isBot: true, createdAt: '' };
  return buildContext(reader, [], trigger, { maxMessages: 1, maxTokens });
}

/** What a consent judge is asked, and how its reply is read. */
export function consentJudgeContext(judge: Persona, overview: string, answer: string, maxTokens: number): BuiltContext {
  const system = [
    'You classify answers to a request for consent to a research interview.',
    'Reply in exactly this form:',
    'DECISION: agrees | declines | conditions',
    'CONDITIONS: the conditions it set, in its own words (only for conditions)',
    'RATIONALE: one sentence',
    'Anything short of a clear agreement is "declines".',
  ].join('\n');
  const content = `The request:\n\n${overview}\n\nThe answer:\n\n${answer}`;
  const trigger: ChannelMessage = { id: '1000000', authorId: RESEARCHER.id, authorName: RESEARCHER.name, content, isBot: true, createdAt: '' };
  return buildContext({ ...judge, systemPrompt: system, contextMode: 'chat' }, [], trigger, { maxMessages: 1, maxTokens });
}

export function parseConsentJudgement(reply: string): { decision: ConsentDecision; conditions?: string; rationale: string } | undefined {
  const field = (name: string) => new RegExp(`^\\s*\\**${name}\\**\\s*:\\s*(.+)$`, 'im').exec(reply)?.[1]?.trim();
  const decision = field('DECISION')?.toLowerCase().replace(/[^a-z]/g, '');
  if (decision !== 'agrees' && decision !== 'declines' && decision !== 'conditions') return undefined;
  const conditions = field('CONDITIONS');
  return { decision, ...(decision === 'conditions' && conditions ? { conditions } : {}), rationale: field('RATIONALE') ?? '' };
}

export interface Participation {
  /** Asked for consent and not yet answered (or not yet asked). */
  pending: string[];
  declined: string[];
  /** Could not be asked (its host failed through every try): takes no part. */
  unreachable: string[];
  withdrawn: string[];
  /** Taking part now, in turn order. */
  active: string[];
}

/** Who takes part, from the records: without consent asked, everyone; with it, those who agreed and have not withdrawn. */
export function participation(events: readonly TranscriptEvent[], personaIds: readonly string[], consentAsked: boolean): Participation {
  const decided = new Map<string, ConsentDecision>();
  const unreachable = new Set<string>();
  const withdrawn = new Set<string>();
  for (const e of events) {
    if (e.type === 'consent') decided.set(e.persona.personaId, e.decision);
    if (e.type === 'error' && e.during === 'consent' && e.persona) unreachable.add(e.persona.personaId);
    if (e.type === 'withdrawal') withdrawn.add(e.persona.personaId);
  }
  const pending = consentAsked ? personaIds.filter((id) => !decided.has(id) && !unreachable.has(id)) : [];
  const declined = personaIds.filter((id) => decided.get(id) === 'declines');
  const active = personaIds.filter((id) => !withdrawn.has(id) && !unreachable.has(id) && (consentAsked ? decided.has(id) && decided.get(id) !== 'declines' : decided.get(id) !== 'declines'));
  return { pending, declined, unreachable: personaIds.filter((id) => unreachable.has(id)), withdrawn: personaIds.filter((id) => withdrawn.has(id)), active };
}

/** Personas a re-run of this session must not put questions to: they declined or withdrew. */
export function notToBeAskedAgain(events: readonly TranscriptEvent[]): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.type === 'consent' && e.decision === 'declines') out.add(e.persona.personaId);
    if (e.type === 'withdrawal') out.add(e.persona.personaId);
  }
  return out;
}

// What an interview does next, decided from its records alone. Pure, so a session resumes after
// any crash by reading its events again.
import { QUOTE_WORDS, runsOf, wordsOf } from '../quotes.ts';
import { isRerun, questionAuthor, type TranscriptEvent } from '../transcript/events.ts';
import { participation } from './consent.ts';
import type { AuditorMove } from './context.ts';

export interface SessionPlan {
  script: readonly string[];
  /** Persona ids answering, in turn order. */
  personaIds: readonly string[];
  interviewer: { kind: 'human' } | { kind: 'auditor'; personaId: string; followUpLimit: number };
  /** Headless sessions with no auditor ask the scripted questions one after another on their own. */
  autoAdvance: boolean;
  /** Each persona is asked for its consent before the first question (the protocol has a consent step). */
  consent?: boolean;
}

export type NextStep =
  | { kind: 'ask-consent'; personaIds: string[] }
  | { kind: 'ask-script'; scriptIndex: number; text: string }
  | { kind: 'consult-auditor'; followUpsLeft: number }
  | { kind: 'await-human' }
  | { kind: 'await-answers'; questionId: string; missing: string[] }
  | { kind: 'end'; reason: 'script-finished' | 'auditor-closed' | 'no-participants' }
  | { kind: 'ended' };

type Question = Extract<TranscriptEvent, { type: 'question' }>;

export function progress(events: readonly TranscriptEvent[], plan: SessionPlan) {
  const questions = events.filter((e): e is Question => e.type === 'question');
  const scriptAsked = questions.filter((q) => q.source === 'script').length;
  const followUps = questions.filter((q) => q.source === 'auditor').length;
  const limit = plan.interviewer.kind === 'auditor' ? plan.interviewer.followUpLimit : 0;
  return { questions, scriptAsked, followUps, followUpsLeft: Math.max(0, limit - followUps), last: questions.at(-1) };
}

/** Who takes part now: everyone, or with a consent step, those who agreed and have not withdrawn. */
export function takingPart(events: readonly TranscriptEvent[], plan: Pick<SessionPlan, 'personaIds' | 'consent'>) {
  return participation(events, plan.personaIds, plan.consent ?? false);
}

/**
 * The first question not every persona taking part has answered yet, and who has not. Questions
 * asked while a round runs wait their turn: rounds go one question at a time, in the order asked. A
 * persona that could not answer (its error is recorded) counts as done: it does not hold the session
 * up; one that declined or withdrew is not waited for. No round starts while consent is being asked.
 */
export function awaitingAnswers(events: readonly TranscriptEvent[], plan: Pick<SessionPlan, 'personaIds' | 'consent'>): { questionId: string; missing: string[] } | undefined {
  const part = takingPart(events, plan);
  if (part.pending.length) return undefined;
  const done = new Map<string, Set<string>>();
  for (const e of events) {
    if ((e.type === 'answer' || e.type === 'error') && e.questionId && e.persona) {
      let set = done.get(e.questionId);
      if (!set) done.set(e.questionId, (set = new Set()));
      set.add(e.persona.personaId);
    }
  }
  for (const q of events) {
    if (q.type !== 'question') continue;
    const missing = part.active.filter((id) => !done.get(q.id)?.has(id));
    if (missing.length) return { questionId: q.id, missing };
  }
  return undefined;
}

export function nextStep(events: readonly TranscriptEvent[], plan: SessionPlan): NextStep {
  if (events.some((e) => e.type === 'session_ended')) return { kind: 'ended' };
  const part = takingPart(events, plan);
  if (part.pending.length) return { kind: 'ask-consent', personaIds: part.pending };
  if (part.active.length === 0) return { kind: 'end', reason: 'no-participants' };
  const { scriptAsked, followUpsLeft, last } = progress(events, plan);
  const awaiting = awaitingAnswers(events, plan);
  if (awaiting) return { kind: 'await-answers', ...awaiting };
  const scriptLeft = scriptAsked < plan.script.length;
  const askScript = (): NextStep => ({ kind: 'ask-script', scriptIndex: scriptAsked, text: plan.script[scriptAsked]! });
  if (plan.interviewer.kind === 'auditor') {
    if (!last) return askScript();
    if (followUpsLeft > 0) return { kind: 'consult-auditor', followUpsLeft };
    // The follow-up limit only bounds follow-ups: a session whose script is done ends for that.
    return scriptLeft ? askScript() : { kind: 'end', reason: 'script-finished' };
  }
  if (plan.autoAdvance) return scriptLeft ? askScript() : { kind: 'end', reason: 'script-finished' };
  return { kind: 'await-human' };
}

/** Turns the auditor's reply into the next step, holding it to its follow-up limit. */
export function applyAuditorMove(events: readonly TranscriptEvent[], plan: SessionPlan, move: AuditorMove): NextStep | { kind: 'ask-follow-up'; text: string; followUpOf: string } {
  const { scriptAsked, followUpsLeft, last } = progress(events, plan);
  if (move.kind === 'end') return { kind: 'end', reason: 'auditor-closed' };
  if (move.kind === 'follow-up' && followUpsLeft > 0 && last) return { kind: 'ask-follow-up', text: move.text, followUpOf: last.id };
  if (scriptAsked < plan.script.length) return { kind: 'ask-script', scriptIndex: scriptAsked, text: plan.script[scriptAsked]! };
  return { kind: 'end', reason: 'script-finished' };
}

/** A short answer counts as quoted only whole, and only from this many characters ("I don't know" is anyone's). */
const SHORT_QUOTE_CHARS = 20;

/**
 * Whose answer a question repeats, if any: a run of QUOTE_WORDS words of one (or a shorter answer
 * whole, of SHORT_QUOTE_CHARS characters or more), case and punctuation aside. Words an earlier
 * question already held are not the answer's own (models restate the question they answer). In a
 * blind interview every persona is put every question, so a question quoting one persona's answer
 * would show it to the others.
 */
export function quotedAnswer(question: string, events: readonly TranscriptEvent[]): { personaId: string; name: string } | undefined {
  const asked = ` ${wordsOf(question).join(' ')} `;
  const before = events.flatMap((e) => (e.type === 'question' ? [` ${wordsOf(e.text).join(' ')} `] : []));
  const quotes = (run: string) => asked.includes(` ${run} `) && !before.some((q) => q.includes(` ${run} `));
  for (const e of events) {
    if (e.type !== 'answer' || !e.persona) continue;
    const w = wordsOf(e.text);
    const runs = w.length < QUOTE_WORDS ? (w.join(' ').length >= SHORT_QUOTE_CHARS ? [w.join(' ')] : []) : runsOf(w);
    if (runs.some(quotes)) return e.persona;
  }
  return undefined;
}

/**
 * The questions a re-run puts again, in order, follow-ups included — but none a person asked who has
 * since opted out: their words are not put to models again, just as no export shows them.
 */
export function replayableQuestions(events: readonly TranscriptEvent[], optedOut: ReadonlySet<string>): string[] {
  const rerun = isRerun(events);
  return events.flatMap((e) => {
    if (e.type !== 'question') return [];
    const author = questionAuthor(e, rerun);
    return author?.kind === 'human' && optedOut.has(author.userId) ? [] : [e.text];
  });
}

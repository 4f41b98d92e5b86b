// What a channel or an interview thread shows in place of, or under, a model's answer: a notice
// for an answer that is not one to show, a mark under one its token limit cut off, and a host's
// failure in plain words (no addresses, no raw errors). Pure.
import type { Persona } from '../../personas/schema.ts';
import { plainReason, type HostAttempt } from './fallback.ts';
import { cutByLimit } from './stop-reasons.ts';

/**
 * Whether the host, not the model's own ending, stopped the answer: Anthropic's `refusal` (its
 * classifiers ended the answer mid-stream) and OpenAI's `content_filter` (the rest withheld). What
 * was written by then is not an answer to show or to read back: Anthropic says to tell the user and
 * take the turn out of the conversation.
 */
export function stoppedByHost(stopReason: string | null): boolean {
  return stopReason === 'refusal' || stopReason === 'content_filter';
}

/**
 * What a channel shows in place of a model's answer that is not one to show (the record keeps what
 * the model wrote): one with no text, or one its host stopped part way (see stoppedByHost).
 * Undefined when `said` stands as the persona's words.
 */
export function answerNotice(persona: Persona, said: string, stopReason: string | null, reasoned = false): string | undefined {
  if (!said) return emptyAnswerNotice(persona, stopReason, reasoned);
  return stoppedByHost(stopReason) ? `*${persona.name}'s answer was stopped part way by its host's safety checks, and is not shown.*` : undefined;
}

/**
 * What chorus shows under an answer the model's token limit cut off (`max_tokens`, `length`), so
 * that no one takes a sentence broken off for the persona's whole thought; undefined for any other
 * answer. It is chorus's, not the persona's: records and what models read keep the answer without it.
 */
export function cutOffMark(persona: Persona, stopReason: string | null): string | undefined {
  if (!cutByLimit(stopReason)) return undefined;
  return `…\n-# *${persona.name}'s answer was cut off here: it reached its token limit.*`;
}

/** An answer as a channel or thread shows it: with its cut-off mark, if it has one. */
export function shownAnswer(persona: Persona, said: string, stopReason: string | null): string {
  return said + (cutOffMark(persona, stopReason) ?? '');
}

/**
 * Whether the model reasoned: its reasoning came with the answer, or only its count (OpenAI's
 * reasoning models keep the reasoning to themselves and say how many tokens it took).
 */
export function reasoned(c: { reasoning?: string | undefined; usage: { reasoningTokens?: number | undefined } | null }): boolean {
  return Boolean(c.reasoning) || (c.usage?.reasoningTokens ?? 0) > 0;
}

/**
 * What the channel shows for an answer with no text (the record keeps the model's empty answer):
 * whose, and why, as far as the host's stop reason says. An empty post would be refused by Discord,
 * and a placeholder under the persona's name would pass for its words.
 */
export function emptyAnswerNotice(persona: Persona, stopReason: string | null, reasoned = false): string {
  const limit = cutByLimit(stopReason);
  const why =
    stoppedByHost(stopReason)
      ? 'the model declined to answer'
      : limit && reasoned
        ? 'the model reached its token limit while still reasoning (a larger maxTokens leaves room for an answer)'
        : limit
          ? 'the model reached its token limit before writing any text'
          : reasoned
            ? 'the model wrote only its reasoning, and no answer'
            : 'the model returned no text';
  return `*${persona.name} gave no answer: ${why}.*`;
}

/**
 * The notice posted (as the persona) when no host could answer, in plain words: which hosts were
 * tried and why they did not answer, never addresses or the hosts' raw errors (those go to the log).
 */
export function unavailableNotice(persona: Persona, attempts: readonly HostAttempt[], passing = false): string {
  if (passing) return `*${persona.name} could not answer: ${whatHostsDid(attempts)}. Please try again in a few minutes.*`;
  const reasons = [...new Set(attempts.map(plainReason))];
  return `*${persona.name} could not answer: no host serves this model right now (${reasons.join('; ')}).*`;
}

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth'];

/**
 * What each host asked did, last word first per host, in plain words: "its model host is
 * overloaded", or, for several, "its first model host is overloaded, and its second is failing".
 */
export function whatHostsDid(attempts: readonly HostAttempt[]): string {
  const last = new Map<number, HostAttempt>();
  for (const a of attempts) last.set(a.hostIndex, a);
  const said = [...last.values()];
  if (said.length <= 1) return `its model host ${[...new Set(attempts.map(plainReason))].join(', and ')}`;
  const nth = (i: number) => ORDINALS[i] ?? `host ${i + 1}`;
  return said.map((a, i) => (i === 0 ? `its ${nth(a.hostIndex)} model host ${plainReason(a)}` : `its ${nth(a.hostIndex)} ${plainReason(a)}`)).join(', and ');
}

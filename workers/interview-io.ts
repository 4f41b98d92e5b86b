// The edges an interview step uses: its dependencies, the session's key, a model call with the
// queue's retry rules, and a post in the thread made once whatever crashes.
import type { Host, Persona } from '../personas/schema.ts';
import type { DiscordEdge, Speaker } from '../core/discord.ts';
import type { HostClient } from '../core/hosts/clients.ts';
import type { Prompt } from '../core/context.ts';
import { askPersona, plainReason, RetryableHostError, type Answered, type AskOptions, type HostAttempt, type Reading } from '../core/hosts/fallback.ts';
import { whatHostsDid } from '../core/hosts/notices.ts';
import { sessionKey, type InterviewQueues, type SessionState } from '../core/interview/sessions.ts';
import type { Ledger } from '../core/ledger.ts';
import { describeError, type Logger } from '../core/log.ts';
import { splitMessage } from '../core/split.ts';
import type { LiveSessions } from '../core/transcript/live.ts';
import type { RecordStore, SessionRow } from '../core/transcript/store.ts';
import { postPieces, type PostTarget } from './post.ts';

export interface InterviewDeps {
  store: RecordStore;
  queues: InterviewQueues;
  personas: ReadonlyMap<string, Persona>;
  clientFor: (host: Host) => HostClient | undefined;
  ledger: Ledger;
  /** Absent for headless sessions. */
  discord?: DiscordEdge;
  maxTokens: number;
  log: Logger;
  now?: () => Date;
  /** Host health and the metrics observer, as replies use them. */
  hostOptions?: AskOptions;
  /** Which threads hold a live session: a session ending on its own frees its thread, as `/interview end` does. */
  live?: LiveSessions;
}

/** The session's key for events, jobs and posts (see sessionKey). */
export const keyOf = (session: SessionRow) => sessionKey(session.id, session.state as unknown as SessionState);

export const iso = (deps: InterviewDeps) => (deps.now?.() ?? new Date()).toISOString();

/** The persona as a session asks it: with a re-run's sampling overrides. */
export function withOverrides(persona: Persona, state: SessionState): Persona {
  const o = state.overrides;
  if (!o) return persona;
  return { ...persona, sampling: { ...persona.sampling, ...(o.temperature === undefined ? {} : { temperature: o.temperature }), ...(o.maxTokens ? { maxTokens: o.maxTokens } : {}) } };
}

export type Outcome<C = unknown> = (Answered & { context: C }) | { kind: 'failed'; message: string; attempts: HostAttempt[] };

/**
 * A model call with the queue's retry rules: a passing failure is retried by the queue, except on
 * the last try, where it becomes an explanation like a refusal does.
 */
export async function askOrExplain<C extends { prompt: Prompt }>(persona: Persona, reading: Reading<C>, lastTry: boolean, deps: InterviewDeps): Promise<Outcome<C>> {
  try {
    const result = await askPersona(persona, reading, deps.clientFor, undefined, deps.hostOptions);
    if (result.kind === 'answered') return result;
    return { kind: 'failed', message: `no host serves this model right now (${[...new Set(result.attempts.map(plainReason))].join('; ')})`, attempts: result.attempts };
  } catch (err) {
    if (err instanceof RetryableHostError && lastTry) {
      return { kind: 'failed', message: `${whatHostsDid(err.attempts)}, through every try`, attempts: err.attempts };
    }
    if (!(err instanceof RetryableHostError)) deps.log.error({ personaId: persona.id, err: describeError(err) }, 'interview model call failed');
    throw err; // BullMQ retries the step with backoff
  }
}

/** Posts text in the thread once per key, as a persona (webhook) or as the bot, resuming after crashes. */
export async function postOnce(deps: InterviewDeps, channelId: string, key: string, persona: Persona | undefined, text: string, after?: string, notice = false): Promise<string[]> {
  const who = persona?.id ?? 'chorus';
  const speaker: Speaker | undefined = persona && { personaId: persona.id, name: persona.name, ...(persona.avatarUrl ? { avatarUrl: persona.avatarUrl } : {}) };
  const target: PostTarget = { channel: { channelId }, key, who, depth: 0, notice, ...(speaker ? { speaker } : {}), after: after ?? '0' };
  const posted = await postPieces({ discord: deps.discord!, ledger: deps.ledger }, target, splitMessage(text), await deps.ledger.progress(key, who));
  return posted.map((p) => p.id);
}

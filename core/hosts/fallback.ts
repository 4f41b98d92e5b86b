// Ordered host fallback for a persona: the next host whenever one fails (refused, retired the model,
// or failed in passing), and a retry (by the queue) only when none answered and one failed in passing.
import { hostLabel, type Host, type Persona } from '../../personas/schema.ts';
import { sendableImages, type Prompt } from '../context.ts';
import { describeError } from '../log.ts';
import { requestFor, streamingRequest, type RequestBody } from '../requests.ts';
import type { Completion, HostClient, Usage } from './clients.ts';
import { HostAnswerError } from './errors.ts';
import { promptTokens, saysTooLong, smallerBudget, tooLongOf, windowBudget, windowKey } from './window.ts';

export type FailureKind = 'next-host' | 'retry';

/**
 * Passing failures (rate limits, overload, server errors, network) may mend: when no host of the
 * persona's answers, the turn is tried again later. Refusals (unknown or retired model, no
 * permission, bad key, rejected request, a host that answers with no API answer) will not.
 */
export function classifyFailure(err: unknown): FailureKind {
  const status = statusOf(err);
  // A web page where the answer should be: the host's address is wrong, and stays wrong.
  if (status === undefined && err instanceof HostAnswerError) return 'next-host';
  if (status === undefined) return 'retry'; // connection refused, timeout, stream cut
  // The host's own word first, as both SDKs take it (`x-should-retry`): a 500 it says not to repeat
  // is a refusal of this request, and trying it again would only fail the same way.
  const told = (err as { headers?: { get?(name: string): string | null } })?.headers?.get?.('x-should-retry');
  if (told === 'false') return 'next-host';
  if (told === 'true') return 'retry';
  if (status === 408 || status === 409 || status === 429 || status >= 500) return 'retry';
  return 'next-host';
}

/**
 * The HTTP status a host's failure stands for: the response's, or, for an error sent inside a
 * stream that began with 200 (OpenRouter and other OpenAI-compatible hosts send `{"error": {"code":
 * 403, …}}` there), the code it carries when that is an HTTP status. So a request refused mid-stream
 * moves on to the next host as one refused up front does, rather than being retried as it is.
 */
export function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; error?: { code?: unknown; type?: unknown; error?: { code?: unknown; type?: unknown } } };
  if (typeof e?.status === 'number') return e.status;
  const code = Number(e?.error?.code ?? e?.error?.error?.code);
  if (Number.isInteger(code) && code >= 400 && code <= 599) return code;
  // Anthropic's `event: error` names its type, not a code: each type is one HTTP status.
  const type = e?.error?.error?.type ?? e?.error?.type;
  return typeof type === 'string' ? ANTHROPIC_ERROR_STATUS[type] : undefined;
}

/** Anthropic's error types and the HTTP status each stands for (docs: Errors). */
const ANTHROPIC_ERROR_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/**
 * A refusal of an image the request carried (a link the host could not fetch, a file too large or of
 * a kind it does not read), in the hosts' own words; the rest of the request may be fine.
 */
export function refusesImage(err: unknown, status: number | undefined): boolean {
  if (status !== 400 && status !== 413 && status !== 422) return false;
  const e = err as { message?: unknown; code?: unknown; param?: unknown };
  const words = [e.message, e.code, e.param].filter((w) => typeof w === 'string').join(' ');
  return /image|error while downloading|timeout while downloading/i.test(words);
}

export interface HostAttempt {
  hostIndex: number;
  host: string;
  model: string;
  /**
   * shortened: the host found the request too long for its model, and was asked again with less
   * history. images-dropped: it could not read an image sent, and was asked again without images.
   */
  outcome: 'skipped' | 'refused' | 'failed' | 'shortened' | 'images-dropped';
  reason: string;
  status?: number;
}

export interface Answered {
  kind: 'answered';
  hostIndex: number;
  host: Host;
  request: RequestBody;
  completion: Completion;
  attempts: HostAttempt[];
  startedAt: number;
  latencyMs: number;
}

export interface Exhausted {
  kind: 'exhausted';
  attempts: HostAttempt[];
}

/**
 * Thrown so the queue retries later, when no host answered and at least one failed in passing;
 * carries the hosts' own Retry-After when every host that failed in passing gave one (the soonest).
 */
export class RetryableHostError extends Error {
  override name = 'RetryableHostError';
  readonly attempts: HostAttempt[];
  readonly retryAfterMs: number | undefined;
  constructor(message: string, attempts: HostAttempt[], retryAfterMs?: number) {
    super(message);
    this.attempts = attempts;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * How long a host asked to be left alone after a 429 or 529, in ms (at most 5 minutes), from the
 * response headers the SDKs expose: OpenAI's `retry-after-ms`, else `retry-after` in seconds or as
 * an HTTP date, as the SDKs themselves read them.
 */
export function retryAfterOf(err: unknown, now = Date.now()): number | undefined {
  const headers = (err as { headers?: Headers | Record<string, string> })?.headers;
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : headers?.[name]) ?? undefined;
  const cap = (ms: number) => (Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 300_000) : undefined);
  const ms = get('retry-after-ms');
  if (ms && cap(Number(ms)) !== undefined) return cap(Number(ms));
  const raw = get('retry-after')?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return cap(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : cap(Math.max(0, at - now));
}

/** What fallback needs to know of host health (core/health.ts keeps it, from periodic checks, in Redis). */
export interface HostHealthView {
  /** For each host, whether a recent check found it down. */
  down(hosts: readonly Host[]): Promise<boolean[]>;
  /** A host believed down has just answered: it is back. */
  answered(host: Host): Promise<void>;
  /**
   * A request to the host failed in a way a health check would count (down, failing, silent): as
   * many in a row as failed checks mark it down, so a host whose model list answers while its model
   * calls fail is passed over too, not asked first (and waited on) by every turn until it mends.
   */
  failed?(host: Host, reason: string): Promise<void>;
  /** A request to the host was answered: its failures in a row start again from none. */
  succeeded?(host: Host): Promise<void>;
}

/** Failures of a request that say the host is unwell (not busy, not refusing this request). */
const UNWELL: ReadonlySet<FailureClass> = new Set(['overloaded', 'server-error', 'timeout', 'network', 'not-an-api']);

/** What happened at each host, for metrics. */
export type HostEvent =
  | { kind: 'answered'; personaId: string; host: string; hostIndex: number; usage: Usage | null }
  | { kind: 'failed' | 'skipped'; personaId: string; attempt: HostAttempt };

export interface AskOptions {
  health?: HostHealthView;
  observe?: (event: HostEvent) => void;
  /** History budgets learned from hosts that found a request too long, by model and server (windowKey). */
  windows?: Map<string, number>;
  /**
   * A new request begins after one that had streamed text through `onText` and failed: that text is
   * not the answer, and what streams next replaces it (it must not be shown as its beginning).
   */
  onTextDiscarded?: () => void;
}

/**
 * Starts reading the persona's host health now, so the read travels with the other reads a turn
 * makes before its model call (one round trip, not two in a row); `askPersona` then uses it. Only a
 * persona with more than one host has a choice to make, so only then is anything read.
 */
export function readHealthAhead(opts: AskOptions | undefined, persona: Persona): AskOptions | undefined {
  const health = opts?.health;
  if (!health || persona.hosts.length < 2) return opts;
  const read = health.down(persona.hosts);
  read.catch(() => undefined); // askPersona awaits it, and treats a failed read as nothing known
  return {
    ...opts,
    health: {
      down: () => read,
      answered: (host) => health.answered(host),
      ...(health.failed ? { failed: (host, reason) => health.failed!(host, reason) } : {}),
      ...(health.succeeded ? { succeeded: (host) => health.succeeded!(host) } : {}),
    },
  };
}

/** The reason recorded for a host passed over because its last checks failed. */
export const HOST_DOWN_REASON = 'down at its last health checks';

/**
 * Pure: which hosts to pass over as down. Down hosts are skipped while another usable host (one with
 * its key) is not known to be down; when every usable host is down, all are tried in order, so a
 * recovery is noticed by the next request rather than the next check.
 */
export function hostsToSkip(usable: readonly boolean[], down: readonly boolean[]): boolean[] {
  const anyUp = usable.some((u, i) => u && !down[i]);
  return usable.map((u, i) => anyUp && u && Boolean(down[i]));
}

/**
 * What a persona reads, built within a history budget (estimated tokens), so a host that finds it too
 * long for its model's window can be asked again with less of the history.
 */
export interface Reading<C extends { prompt: Prompt }> {
  /** The history budget to start from. */
  budget: number;
  build(historyTokens: number): C;
}

/** A prompt read whole whatever the budget (a judge's one message, a test's prompt). */
export function wholePrompt(prompt: Prompt): Reading<{ prompt: Prompt }> {
  return { budget: Number.POSITIVE_INFINITY, build: () => ({ prompt }) };
}

/** How many times one host is asked again with less history before it counts as refusing. */
const MAX_SHORTENINGS = 4;

export async function askPersona<C extends { prompt: Prompt }>(
  persona: Persona,
  reading: Reading<C>,
  clientFor: (host: Host) => HostClient | undefined,
  onText?: (delta: string) => void,
  opts: AskOptions = {},
): Promise<(Answered & { context: C }) | Exhausted> {
  const attempts: HostAttempt[] = [];
  let streamed = false;
  const heard = onText && ((delta: string) => {
    streamed ||= delta.length > 0;
    onText(delta);
  });
  const clients = persona.hosts.map((host) => clientFor(host));
  const usable = clients.map(Boolean);
  // Health matters only where there is a choice: a persona with one usable host asks it anyway.
  const down = opts.health && usable.filter(Boolean).length > 1 ? await opts.health.down(persona.hosts).catch(() => []) : [];
  const skip = hostsToSkip(usable, down);
  const passOver = (attempt: HostAttempt) => {
    attempts.push(attempt);
    opts.observe?.({ kind: 'skipped', personaId: persona.id, attempt });
  };
  // Hosts that failed in passing, with how long each asked to be left alone (undefined: it did not say).
  const passing: (number | undefined)[] = [];
  for (const [hostIndex, host] of persona.hosts.entries()) {
    const base = { hostIndex, host: hostLabel(host), model: host.model };
    const client = clients[hostIndex];
    if (!client) {
      passOver({ ...base, outcome: 'skipped', reason: 'no API key configured' });
      continue;
    }
    if (skip[hostIndex]) {
      passOver({ ...base, outcome: 'skipped', reason: HOST_DOWN_REASON });
      continue;
    }
    // The history fits what this model's window is known to hold: declared, or learned from a refusal.
    let budget = Math.min(reading.budget, windowBudget(host, persona) ?? Infinity, opts.windows?.get(windowKey(host)) ?? Infinity);
    let context = reading.build(budget);
    let vision = host.vision;
    let shortened = 0;
    for (;;) {
      const prompt = vision ? sendableImages(context.prompt, Date.now()) : context.prompt;
      // (Images are sent only to a host that reads them, and only until it has refused one.)
      const withImages = vision && prompt.mode === 'chat' && prompt.turns.some((t) => t.images?.length);
      const request = streamingRequest(requestFor(persona, { ...host, vision }, prompt));
      const startedAt = Date.now();
      if (streamed) opts.onTextDiscarded?.();
      streamed = false;
      try {
        const completion = await client.complete(request, heard);
        if (shortened) opts.windows?.set(windowKey(host), budget); // learned only from a refusal as too long
        opts.observe?.({ kind: 'answered', personaId: persona.id, host: base.host, hostIndex, usage: completion.usage });
        if (down[hostIndex]) await opts.health?.answered(host).catch(() => undefined);
        void opts.health?.succeeded?.(host).catch(() => undefined); // (not waited for: the answer is)
        return { kind: 'answered', hostIndex, host, request, completion, attempts, startedAt, latencyMs: Date.now() - startedAt, context };
      } catch (err) {
        const { message } = describeError(err);
        const status = statusOf(err);
        const kind = classifyFailure(err);
        const dropImages = withImages && refusesImage(err, status);
        const shorter = !dropImages && shortened < MAX_SHORTENINGS ? shorterAfter(err, status, reading, budget, context) : undefined;
        const outcome = dropImages ? 'images-dropped' : shorter ? 'shortened' : kind === 'retry' ? 'failed' : 'refused';
        const attempt: HostAttempt = { ...base, outcome, reason: message, ...(status === undefined ? {} : { status }) };
        attempts.push(attempt);
        opts.observe?.({ kind: 'failed', personaId: persona.id, attempt });
        if (dropImages) {
          vision = false; // the images stay named in the text
          continue;
        }
        if (shorter) {
          ({ budget, context } = shorter);
          shortened += 1;
          continue;
        }
        // Either way the next host is asked now: a reply that one of the persona's hosts can give
        // is not held back for the one that failed (the turn's record says which host answered).
        if (kind === 'retry') passing.push(retryAfterOf(err));
        if (UNWELL.has(failureClass(attempt))) await opts.health?.failed?.(host, plainReason(attempt)).catch(() => undefined);
        break;
      }
    }
  }
  if (passing.length) {
    const failed = attempts.filter((a) => a.outcome === 'failed').map((a) => `${a.host} (${a.model}): ${a.reason}`);
    const waits = passing.every((ms) => ms !== undefined) ? Math.min(...(passing as number[])) : undefined;
    throw new RetryableHostError(failed.join('; '), attempts, waits);
  }
  return { kind: 'exhausted', attempts };
}

/** A failed host call's class, for metrics: a handful of values, whatever the hosts say. */
export type FailureClass = 'rate-limited' | 'overloaded' | 'server-error' | 'timeout' | 'network' | 'auth' | 'model-gone' | 'refused' | 'not-an-api';

/**
 * Failures without a status: a connection that failed or timed out, or an error sent inside a
 * stream that had begun well (Anthropic's `event: error`, whose type names the cause).
 */
const UNSTATUSED: [RegExp, FailureClass][] = [
  [/answered with a web page/i, 'not-an-api'],
  [/overloaded/i, 'overloaded'],
  [/rate.?limit/i, 'rate-limited'],
  [/time|abort/i, 'timeout'],
  [/api_error|server.?error|internal server error|ended (its|the) stream/i, 'server-error'],
  [/ECONN|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|fetch failed|socket hang up|other side closed|connection error/i, 'network'],
];

export function failureClass(a: Pick<HostAttempt, 'status' | 'reason'>): FailureClass {
  const s = a.status;
  // (Without a status or a known word, the host answered something that was no answer: it "is
  // failing", not "could not be reached", which is said only of a connection that failed.)
  if (s === undefined) return UNSTATUSED.find(([pattern]) => pattern.test(a.reason))?.[1] ?? 'server-error';
  if (s === 429) return 'rate-limited';
  if (s === 529 || s === 503) return 'overloaded';
  if (s === 408) return 'timeout';
  if (s >= 500) return 'server-error';
  if (s === 401 || s === 403) return 'auth';
  if (s === 404 || s === 410) return 'model-gone';
  return 'refused';
}

/**
 * After a refusal: the context built again within a smaller budget, when the host said the request
 * was too long for its model and building smaller does shorten it (the message answered stays).
 */
function shorterAfter<C extends { prompt: Prompt }>(err: unknown, status: number | undefined, reading: Reading<C>, budget: number, context: C): { budget: number; context: C } | undefined {
  const said = tooLongOf(err, status);
  if (!said) return undefined;
  const size = promptTokens(context.prompt);
  const smallerAt = smallerBudget(budget, size, said);
  const smaller = reading.build(smallerAt);
  return promptTokens(smaller.prompt) < size ? { budget: smallerAt, context: smaller } : undefined;
}

const UNSTATUSED_PLAIN: Partial<Record<FailureClass, string>> = {
  overloaded: 'is overloaded',
  'rate-limited': 'is rate-limiting requests',
  timeout: 'took too long to answer',
  'server-error': 'is failing',
  'not-an-api': 'answered with a web page, not as a model API (its address may be wrong)',
};

/** A host failure in plain words: what a reader of the channel can understand (no addresses, no JSON). */
export function plainReason(a: HostAttempt): string {
  if (a.outcome === 'skipped') return a.reason === HOST_DOWN_REASON ? 'was down at its last checks' : 'has no API key configured';
  if (a.outcome === 'images-dropped') return 'could not read an image in the conversation';
  if (a.outcome === 'shortened' || ((a.status === 400 || a.status === 413 || a.status === 422) && saysTooLong(a.reason))) return 'found the conversation too long for the model';
  switch (a.status) {
    case undefined:
      return UNSTATUSED_PLAIN[failureClass(a)] ?? 'could not be reached';
    case 400:
    case 422:
      return 'refused the request';
    case 401:
      return 'refused the API key';
    case 403:
      return 'refused access';
    case 404:
    case 410:
      return 'no longer serves the model';
    case 408:
      return 'took too long to answer';
    case 429:
      return 'is rate-limiting requests';
    case 529:
    case 503:
      return 'is overloaded';
    default:
      return a.status >= 500 ? 'is failing' : 'refused the request';
  }
}

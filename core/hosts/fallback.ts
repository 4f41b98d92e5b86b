// Ordered host fallback for a persona: the next host when one refuses or has retired the model,
// a retry (by the queue) when the failure is passing.
import { hostLabel, type Host, type Persona } from '../../personas/schema.ts';
import type { Prompt } from '../context.ts';
import { describeError } from '../log.ts';
import { requestFor, streamingRequest, type RequestBody } from '../requests.ts';
import type { Completion, HostClient } from './clients.ts';

export type FailureKind = 'next-host' | 'retry';

/**
 * Passing failures (rate limits, overload, server errors, network) are retried later on the same
 * host; refusals (unknown or retired model, no permission, bad key, rejected request) move on.
 */
export function classifyFailure(err: unknown): FailureKind {
  const status = (err as { status?: unknown })?.status;
  if (typeof status !== 'number') return 'retry'; // connection refused, timeout, stream cut
  if (status === 408 || status === 409 || status === 429 || status >= 500) return 'retry';
  return 'next-host';
}

export interface HostAttempt {
  hostIndex: number;
  host: string;
  model: string;
  outcome: 'skipped' | 'refused' | 'failed';
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

/** Thrown so the queue retries later; carries the host's own Retry-After when it gave one. */
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

/** The Retry-After a host sent with a 429 or 529, in ms (the SDKs expose the response headers). */
function retryAfterOf(err: unknown): number | undefined {
  const headers = (err as { headers?: Headers | Record<string, string> })?.headers;
  const raw = headers instanceof Headers ? headers.get('retry-after') : headers?.['retry-after'];
  const seconds = Number(raw);
  return raw && Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 300_000) : undefined;
}

export async function askPersona(
  persona: Persona,
  prompt: Prompt,
  clientFor: (host: Host) => HostClient | undefined,
  onText?: (delta: string) => void,
): Promise<Answered | Exhausted> {
  const attempts: HostAttempt[] = [];
  for (const [hostIndex, host] of persona.hosts.entries()) {
    const base = { hostIndex, host: hostLabel(host), model: host.model };
    const client = clientFor(host);
    if (!client) {
      attempts.push({ ...base, outcome: 'skipped', reason: 'no API key configured' });
      continue;
    }
    const request = streamingRequest(requestFor(persona, host, prompt));
    const startedAt = Date.now();
    try {
      const completion = await client.complete(request, onText);
      return { kind: 'answered', hostIndex, host, request, completion, attempts, startedAt, latencyMs: Date.now() - startedAt };
    } catch (err) {
      const { message, status } = describeError(err);
      const kind = classifyFailure(err);
      attempts.push({ ...base, outcome: kind === 'retry' ? 'failed' : 'refused', reason: message, ...(status === undefined ? {} : { status }) });
      if (kind === 'retry') throw new RetryableHostError(`${base.host} (${host.model}): ${message}`, attempts, retryAfterOf(err));
    }
  }
  return { kind: 'exhausted', attempts };
}

/** A host failure in plain words: what a reader of the channel can understand (no addresses, no JSON). */
export function plainReason(a: HostAttempt): string {
  if (a.outcome === 'skipped') return 'no API key is configured';
  switch (a.status) {
    case undefined:
      return /time|abort/i.test(a.reason) ? 'took too long to answer' : 'could not be reached';
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

/**
 * The notice posted (as the persona) when no host could answer, in plain words: which hosts were
 * tried and why they did not answer, never addresses or the hosts' raw errors (those go to the log).
 */
export function unavailableNotice(persona: Persona, attempts: readonly HostAttempt[], passing = false): string {
  const reasons = [...new Set(attempts.map(plainReason))];
  const hosts = attempts.length === 1 ? 'its model host' : 'its model hosts';
  if (passing) {
    return `*${persona.name} could not answer: ${hosts} ${reasons.join(', and ')}. Please try again in a few minutes.*`;
  }
  return `*${persona.name} could not answer: no host serves this model right now (${reasons.join('; ')}).*`;
}

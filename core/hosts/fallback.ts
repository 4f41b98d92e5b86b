// Ordered host fallback for a persona: the next host when one refuses or has retired the model,
// a retry (by the queue) when the failure is passing.
import { hostLabel, type Host, type Persona } from '../../personas/schema.ts';
import type { Prompt } from '../context.ts';
import { describeError } from '../log.ts';
import { requestFor, type RequestBody } from '../requests.ts';
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

/** Thrown so the queue retries the job later. */
export class RetryableHostError extends Error {
  override name = 'RetryableHostError';
  readonly attempts: HostAttempt[];
  constructor(message: string, attempts: HostAttempt[]) {
    super(message);
    this.attempts = attempts;
  }
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
    const request = requestFor(persona, host, prompt);
    const startedAt = Date.now();
    try {
      const completion = await client.complete(request, onText);
      return { kind: 'answered', hostIndex, host, request, completion, attempts, startedAt, latencyMs: Date.now() - startedAt };
    } catch (err) {
      const { message, status } = describeError(err);
      const kind = classifyFailure(err);
      attempts.push({ ...base, outcome: kind === 'retry' ? 'failed' : 'refused', reason: message, ...(status === undefined ? {} : { status }) });
      if (kind === 'retry') throw new RetryableHostError(`${base.host} (${host.model}): ${message}`, attempts);
    }
  }
  return { kind: 'exhausted', attempts };
}

/** A short notice posted as the persona when no host could answer. */
export function unavailableNotice(persona: Persona, attempts: readonly HostAttempt[], passing = false): string {
  const why = attempts.map((a) => `${a.host}: ${a.outcome === 'skipped' ? a.reason : a.status ? `HTTP ${a.status}` : a.reason.slice(0, 80)}`);
  const head = passing
    ? `*${persona.name} could not answer: the model host kept failing. Please try again later.*`
    : `*${persona.name} could not answer: no host serves this model right now.*`;
  return `${head}\n-# ${why.join(' · ')}`;
}

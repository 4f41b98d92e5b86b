// A model call as the transcript records it. Pure.
import { hostLabel, publicAddress } from '../../personas/schema.ts';
import type { Answered } from '../hosts/fallback.ts';
import { stoppedByHost } from '../hosts/notices.ts';
import type { FailedTry, ModelTurn } from './events.ts';
import type { ShownMessage } from './shown.ts';

/** `tryNumber`: which try of the turn made the call, where the caller counts them; `earlierTries`: the tries before it no host answered. */
export function toModelTurn(a: Answered, shown?: ShownMessage[], tryNumber?: number, earlierTries: readonly FailedTry[] = []): ModelTurn {
  // (Only tries before this one: a stalled job's twin may have noted its own since.)
  const earlier = earlierTries.filter((t) => tryNumber === undefined || t.try < tryNumber);
  return {
    request: a.request,
    requestedModel: a.host.model,
    answeredModel: a.completion.model,
    host: { label: hostLabel(a.host), provider: a.host.provider, ...(a.host.baseUrl ? { baseUrl: publicAddress(a.host.baseUrl) } : {}), index: a.hostIndex },
    fallbacks: a.attempts,
    ...(tryNumber === undefined ? {} : { try: tryNumber }),
    ...(earlier.length ? { earlierTries: earlier } : {}),
    stopReason: a.completion.stopReason,
    usage: a.completion.usage,
    ...(a.completion.reasoning ? { reasoning: a.completion.reasoning } : {}),
    ...(stoppedByHost(a.completion.stopReason) && a.completion.text ? { stoppedText: a.completion.text } : {}),
    startedAt: new Date(a.startedAt).toISOString(),
    finishedAt: new Date(a.startedAt + a.latencyMs).toISOString(),
    latencyMs: a.latencyMs,
    ...(shown ? { shown } : {}),
  };
}

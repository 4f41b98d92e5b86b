// A model call as the transcript records it. Pure.
import { hostLabel, publicAddress } from '../../personas/schema.ts';
import type { Answered } from '../hosts/fallback.ts';
import { stoppedByHost } from '../hosts/notices.ts';
import type { ModelTurn } from './events.ts';
import type { ShownMessage } from './shown.ts';

/** `tryNumber`: which try of the turn made the call, where the caller counts them. */
export function toModelTurn(a: Answered, shown?: ShownMessage[], tryNumber?: number): ModelTurn {
  return {
    request: a.request,
    requestedModel: a.host.model,
    answeredModel: a.completion.model,
    host: { label: hostLabel(a.host), provider: a.host.provider, ...(a.host.baseUrl ? { baseUrl: publicAddress(a.host.baseUrl) } : {}), index: a.hostIndex },
    fallbacks: a.attempts,
    ...(tryNumber === undefined ? {} : { try: tryNumber }),
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

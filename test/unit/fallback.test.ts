import { describe, expect, it } from 'vitest';
import type { Completion, HostClient } from '../../core/hosts/clients.ts';
import { askPersona, classifyFailure, failureClass, plainReason, retryAfterOf, RetryableHostError, wholePrompt } from '../../core/hosts/fallback.ts';
import { unavailableNotice } from '../../core/hosts/notices.ts';
import { buildContext } from '../../core/context.ts';
import { msg, persona } from './helpers.ts';

const failing = (status: number | undefined): HostClient => ({
  complete: async () => {
    throw Object.assign(new Error(`status ${status}`), { status });
  },
});
const answering = (text: string): HostClient => ({ complete: async (): Promise<Completion> => ({ text, stopReason: 'end_turn', usage: null, model: 'm' }) });

const two = persona({ id: 'p', name: 'P', hosts: [{ provider: 'anthropic', model: 'a', apiKeyEnv: 'none' }, { provider: 'openai', model: 'b', apiKeyEnv: 'none' }] });
const prompt = buildContext(two, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;

describe('host failures', () => {
  it('moves on for refusals and retries passing failures', () => {
    for (const s of [400, 401, 403, 404, 410]) expect(classifyFailure({ status: s })).toBe('next-host');
    for (const s of [408, 409, 429, 500, 502, 503, 529]) expect(classifyFailure({ status: s })).toBe('retry');
    expect(classifyFailure(new Error('ECONNREFUSED'))).toBe('retry');
    // What the host says of its own failure goes first, as the SDKs read it.
    const saying = (status: number, should: string) => ({ status, headers: new Headers({ 'x-should-retry': should }) });
    expect(classifyFailure(saying(500, 'false'))).toBe('next-host');
    expect(classifyFailure(saying(400, 'true'))).toBe('retry');
  });

  it('names an error sent inside a stream by its type, in plain words', () => {
    const streamed = (reason: string) => ({ hostIndex: 0, host: 'h', model: 'm', outcome: 'failed' as const, reason });
    const overloaded = streamed('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
    expect([failureClass(overloaded), plainReason(overloaded)]).toEqual(['overloaded', 'is overloaded']);
    const failing = streamed('{"type":"error","error":{"type":"api_error","message":"Internal server error"}}');
    expect([failureClass(failing), plainReason(failing)]).toEqual(['server-error', 'is failing']);
    const gone = streamed('connect ECONNREFUSED 127.0.0.1:9');
    expect([failureClass(gone), plainReason(gone)]).toEqual(['network', 'could not be reached']);
    // A host that answered, but with no answer (an error without a status, a body with no events).
    for (const reason of ['Provider disconnected', 'request ended without sending any chunks'])
      expect([failureClass(streamed(reason)), plainReason(streamed(reason))]).toEqual(['server-error', 'is failing']);
    const slow = streamed('Request was aborted.');
    expect([failureClass(slow), plainReason(slow)]).toEqual(['timeout', 'took too long to answer']);
  });

  it('falls through to the next host when the first has retired the model', async () => {
    const clients = [failing(404), answering('from b')];
    const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)]);
    expect(result.kind).toBe('answered');
    if (result.kind !== 'answered') return;
    expect(result.hostIndex).toBe(1);
    expect(result.request.provider).toBe('openai');
    expect(result.attempts).toMatchObject([{ hostIndex: 0, outcome: 'refused', status: 404 }]);
  });

  it('says so when text streamed from a host that then failed: the next host\'s text replaces it', async () => {
    const cutOff: HostClient = {
      complete: async (_request, onText) => {
        onText?.('Partial answer from A,');
        throw Object.assign(new Error('status 403'), { status: 403 });
      },
    };
    const streaming: HostClient = {
      complete: async (_request, onText) => {
        onText?.('Whole answer from B.');
        return { text: 'Whole answer from B.', stopReason: 'end_turn', usage: null, model: 'b' };
      },
    };
    const clients = [cutOff, streaming];
    const seen: string[] = [];
    const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)], (d) => seen.push(d), { onTextDiscarded: () => seen.push('[discarded]') });
    expect(result.kind).toBe('answered');
    expect(seen).toEqual(['Partial answer from A,', '[discarded]', 'Whole answer from B.']);
  });

  it('asks the next host at once when one fails in passing, rather than hold the reply for it', async () => {
    for (const first of [failing(529), failing(500), failing(429), failing(undefined)]) {
      const clients = [first, answering('from b')];
      const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)]);
      expect(result).toMatchObject({ kind: 'answered', hostIndex: 1, completion: { text: 'from b' }, attempts: [{ hostIndex: 0, outcome: 'failed' }] });
    }
  });

  it('leaves the turn to be tried again only when no host answered and one failed in passing, at the soonest time every such host allows', async () => {
    const busy = (ms: number | undefined): HostClient => ({
      complete: async () => {
        throw Object.assign(new Error('busy'), { status: 429, headers: new Headers(ms === undefined ? {} : { 'retry-after-ms': String(ms) }) });
      },
    });
    const run = (clients: HostClient[]) => askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)]).catch((err: unknown) => err);
    const both = await run([busy(9000), busy(4000)]);
    expect(both).toBeInstanceOf(RetryableHostError);
    expect(both).toMatchObject({ retryAfterMs: 4000, attempts: [{ hostIndex: 0, outcome: 'failed' }, { hostIndex: 1, outcome: 'failed' }] });
    // One host that did not say how long: the queue's own backoff decides.
    expect(await run([busy(9000), busy(undefined)])).toMatchObject({ retryAfterMs: undefined });
    // A refusal after a passing failure: still worth another try later, for the first host.
    expect(await run([busy(2000), failing(404)])).toMatchObject({ retryAfterMs: 2000, attempts: [{ outcome: 'failed' }, { outcome: 'refused' }] });
    expect(await run([failing(404), failing(403)])).toMatchObject({ kind: 'exhausted' });
  });

  it('says what each host did, in plain words', () => {
    const attempt = (hostIndex: number, status: number, outcome: 'failed' | 'refused' = 'failed') => ({ hostIndex, host: 'h', model: 'm', outcome, reason: 'r', status });
    expect(unavailableNotice(two, [attempt(0, 529)], true)).toBe('*P could not answer: its model host is overloaded. Please try again in a few minutes.*');
    expect(unavailableNotice(two, [attempt(0, 529), attempt(1, 404, 'refused')], true)).toBe('*P could not answer: its first model host is overloaded, and its second no longer serves the model. Please try again in a few minutes.*');
  });

  it('reports every host when all refuse, skipping hosts without keys', async () => {
    const result = await askPersona(two, wholePrompt(prompt), (h) => (h.model === 'a' ? undefined : failing(403)));
    expect(result).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'skipped' }, { outcome: 'refused', status: 403 }] });
  });
});

describe('how long a host asked to wait', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  const asked = (headers: Record<string, string>) => retryAfterOf({ headers: new Headers(headers) }, now);

  it('reads retry-after-ms first, then retry-after in seconds or as an HTTP date', () => {
    expect(asked({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
    expect(asked({ 'retry-after': '2' })).toBe(2000);
    expect(asked({ 'retry-after': '0.5' })).toBe(500);
    expect(asked({ 'retry-after': 'Sun, 06 Dec 2026 12:00:30 GMT' })).toBe(30_000);
    expect(retryAfterOf({ headers: { 'retry-after': '3' } }, now)).toBe(3000);
  });

  it('ignores what it cannot read, and caps a long wait at five minutes', () => {
    expect(asked({})).toBeUndefined();
    expect(asked({ 'retry-after': 'soon' })).toBeUndefined();
    expect(asked({ 'retry-after-ms': 'x', 'retry-after': '1' })).toBe(1000);
    expect(asked({ 'retry-after': '86400' })).toBe(300_000);
    expect(asked({ 'retry-after': 'Sun, 06 Dec 2026 11:00:00 GMT' })).toBe(0);
  });
});

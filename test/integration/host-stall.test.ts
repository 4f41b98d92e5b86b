// A host that sends its headers and a first token, then nothing, or drops the connection: the real
// SDKs against the local model host. The SDKs' own timeout ends at the headers; chorus's limit
// counts silence, and a cut stream is never an answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { createHostClient } from '../../core/hosts/clients.ts';
import { askPersona, failureClass, plainReason, RetryableHostError } from '../../core/hosts/fallback.ts';
import { startModelHost, type ModelHost } from '../stand-ins/model-host.ts';
import { msg, persona } from '../unit/helpers.ts';

const SILENCE_MS = 300;

describe('a model host whose stream stalls or breaks after the first token', () => {
  let host: ModelHost;
  let release!: () => void;
  const stalled = new Promise<void>((r) => (release = r));
  beforeAll(async () => {
    host = await startModelHost();
  });
  afterAll(async () => {
    release();
    await host.close();
  });

  for (const provider of ['anthropic', 'openai', 'completions'] as const) {
    it(`is given up after ${SILENCE_MS} ms of silence and retried later (${provider})`, async () => {
      const p = persona({ id: 'p', name: 'P', hosts: [{ provider, model: 'm', apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] });
      const prompt = buildContext(p, [], msg('u', 'P, a long answer please'), { maxMessages: 5, maxTokens: 1000 }).prompt;
      host.setResponder(() => ({ chunks: ['The first words ', 'and the rest'], beforeChunk: (i) => (i === 1 ? stalled : undefined) }));
      const heard: string[] = [];
      const asked = askPersona(p, prompt, (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }), (d) => heard.push(d));
      const err = await asked.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableHostError);
      const attempt = (err as RetryableHostError).attempts[0]!;
      expect(failureClass(attempt)).toBe('timeout');
      expect(heard).toEqual(['The first words ']);
    });
  }

  for (const provider of ['anthropic', 'openai', 'completions'] as const) {
    it(`never takes a stream cut off mid-answer for a whole answer (${provider})`, async () => {
      const p = persona({ id: 'p', name: 'P', hosts: [{ provider, model: 'm', apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] });
      const prompt = buildContext(p, [], msg('u', 'P, a long answer please'), { maxMessages: 5, maxTokens: 1000 }).prompt;
      // The host's connection drops after the first token (a proxy losing its upstream).
      host.setResponder(() => ({ chunks: ['The first words ', 'and the rest'], beforeChunk: (i) => (i === 1 ? Promise.reject(new Error('cut')) : undefined) }));
      const err = await askPersona(p, prompt, (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RetryableHostError);
    });
  }

  it('reads an overload sent inside an Anthropic stream as an overload, retried later', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'anthropic', model: 'm', apiKeyEnv: 'none', baseUrl: host.url }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    host.setResponder(() => ({ chunks: ['Begun ', 'and never ended'], streamErrorAfter: 1 }));
    const err = await askPersona(p, prompt, (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then((r) => r, (e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableHostError);
    const attempt = (err as RetryableHostError).attempts[0]!;
    expect([failureClass(attempt), plainReason(attempt)]).toEqual(['overloaded', 'is overloaded']);
  });

  it('reads an error sent inside an OpenAI-compatible stream as a failure, retried later', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    host.setResponder(() => ({ chunks: ['Begun ', 'and never ended'], streamErrorAfter: 1 }));
    const err = await askPersona(p, prompt, (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then((r) => r, (e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableHostError);
  });

  it("waits as long as a host's own silenceSeconds says (a model that reasons before its first token)", async () => {
    const base = { provider: 'openai' as const, model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` };
    const prompt = buildContext(persona({ id: 'p', name: 'P', hosts: [base] }), [], msg('u', 'P, think first'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    // Nothing at all for 400 ms, then the answer: over the process-wide limit, within the host's.
    host.setResponder(() => ({ text: 'Considered.', delayMs: 400 }));
    const patient = persona({ id: 'p', name: 'P', hosts: [{ ...base, silenceSeconds: 5 }] });
    const result = await askPersona(patient, prompt, (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }));
    expect(result.kind === 'answered' && result.completion.text).toBe('Considered.');
    const hasty = persona({ id: 'p', name: 'P', hosts: [base] });
    await expect(askPersona(hasty, prompt, (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }))).rejects.toBeInstanceOf(RetryableHostError);
  });

  it('keeps waiting while the host keeps sending, however long the whole answer takes', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P, slowly'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    // Six tokens at 100 ms each: 600 ms in all, twice the silence limit, never silent for long.
    host.setResponder(() => ({ chunks: ['a ', 'b ', 'c ', 'd ', 'e ', 'f'], chunkDelayMs: 100 }));
    const result = await askPersona(p, prompt, (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }));
    expect(result.kind === 'answered' && result.completion.text).toBe('a b c d e f');
  });
});

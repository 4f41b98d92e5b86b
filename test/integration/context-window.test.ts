// A model whose context window the channel has outgrown (a legacy model's 2–4k, a local server's
// n_ctx): the host refuses the request as too long, in its own words, and chorus asks again with less
// history rather than going silent. The real SDKs against the local model host.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { createHostClient } from '../../core/hosts/clients.ts';
import { askPersona, plainReason } from '../../core/hosts/fallback.ts';
import { unavailableNotice } from '../../core/hosts/notices.ts';
import { smallerBudget, tooLongOf, windowBudget } from '../../core/hosts/window.ts';
import type { ChannelMessage } from '../../core/messages.ts';
import { estimateInput } from '../stand-ins/model-host-cache.ts';
import { startModelHost, type ModelHost } from '../stand-ins/model-host.ts';
import { msg, persona } from '../unit/helpers.ts';

const WINDOW = 1200;

/** Sixty messages of about 30 tokens each: far more than the window holds. */
function longHistory(): ChannelMessage[] {
  return Array.from({ length: 60 }, (_, i) => ({ ...msg(`u${i % 3}`, `message ${i}: ${'words that fill the window '.repeat(4)}`), id: String(1000 + i), seq: i }));
}

describe('a channel longer than the model’s context window', () => {
  let host: ModelHost;
  beforeAll(async () => {
    host = await startModelHost({ contextWindow: (model) => (model === 'small' ? WINDOW : undefined) });
  });
  afterAll(() => host.close());

  const personaOn = (provider: 'anthropic' | 'openai' | 'completions', model = 'small', extra: { contextTokens?: number } = {}) =>
    persona({
      id: 'p',
      name: 'P',
      contextMode: provider === 'completions' ? 'prefill' : 'chat',
      sampling: { maxTokens: 200 },
      hosts: [{ provider, model, apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1`, ...extra }],
    });
  const readingFor = (p: ReturnType<typeof personaOn>, history: ChannelMessage[]) => {
    const trigger = history.at(-1)!;
    return { budget: 6000, build: (maxTokens: number) => buildContext(p, history, trigger, { maxMessages: 100, maxTokens, step: 10 }) };
  };

  for (const provider of ['anthropic', 'openai', 'completions'] as const) {
    it(`asks again with less history, keeps the newest, and remembers what fits (${provider})`, async () => {
      host.setResponder(() => ({ text: 'An answer.' }));
      const p = personaOn(provider);
      const history = longHistory();
      const windows = new Map<string, number>();
      const before = host.requests.length;
      const result = await askPersona(p, readingFor(p, history), (h) => createHostClient(h, {}, { timeoutMs: 10_000 }), undefined, { windows });
      expect(result.kind).toBe('answered');
      if (result.kind !== 'answered') return;
      const sent = host.requests.slice(before);
      expect(sent.length).toBeGreaterThan(1);
      // Every refusal is recorded as a shortening of the same host, and what was answered fits.
      expect(result.attempts.map((a) => [a.outcome, a.hostIndex, a.status])).toEqual(sent.slice(0, -1).map(() => ['shortened', 0, 400]));
      const last = sent.at(-1)!.body as Record<string, unknown>;
      expect(estimateInput(last) + 200).toBeLessThanOrEqual(WINDOW);
      expect(result.request.body).toEqual(last);
      // The newest messages are the ones kept, the message answered among them.
      expect(result.context.keptIds.at(-1)).toBe(history.at(-1)!.id);
      expect(result.context.keptIds.length).toBeLessThan(history.length);
      expect(result.context.keptIds).toEqual(history.slice(-result.context.keptIds.length).map((m) => m.id));

      // The next turn starts from what fitted: no refusal to pay again.
      const again = host.requests.length;
      const next = await askPersona(p, readingFor(p, history), (h) => createHostClient(h, {}, { timeoutMs: 10_000 }), undefined, { windows });
      expect(next.kind === 'answered' && next.attempts).toEqual([]);
      expect(host.requests.length - again).toBe(1);
    });
  }

  it('sends a declared window’s worth at once', async () => {
    host.setResponder(() => ({ text: 'An answer.' }));
    const p = personaOn('openai', 'small', { contextTokens: WINDOW });
    const before = host.requests.length;
    const result = await askPersona(p, readingFor(p, longHistory()), (h) => createHostClient(h, {}, { timeoutMs: 10_000 }));
    expect(result.kind === 'answered' && result.attempts).toEqual([]);
    expect(host.requests.length - before).toBe(1);
  });

  it('moves on to the next host when even the message alone is too long, and says why', async () => {
    const p = persona({
      id: 'p',
      name: 'P',
      sampling: { maxTokens: 200 },
      hosts: [
        { provider: 'openai', model: 'small', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` },
        { provider: 'anthropic', model: 'small', apiKeyEnv: 'none', baseUrl: host.url },
      ],
    });
    const huge = { ...msg('u', `P, ${'a very long message '.repeat(400)}`), id: '5000', seq: 1 };
    const result = await askPersona(p, { budget: 6000, build: (maxTokens) => buildContext(p, [huge], huge, { maxMessages: 10, maxTokens }) }, (h) => createHostClient(h, {}, { timeoutMs: 10_000 }));
    expect(result.kind).toBe('exhausted');
    if (result.kind !== 'exhausted') return;
    expect(result.attempts.map((a) => [a.hostIndex, a.outcome])).toEqual([
      [0, 'refused'],
      [1, 'refused'],
    ]);
    expect(result.attempts.map(plainReason)).toEqual(['found the conversation too long for the model', 'found the conversation too long for the model']);
    expect(unavailableNotice(p, result.attempts)).toContain('too long for the model');
  });

  it('does not take other refusals for a window too small', async () => {
    host.setResponder(() => ({ status: 400, errorType: 'invalid_request_error', errorMessage: 'temperature: must be at most 1' }));
    const p = personaOn('anthropic', 'large');
    const before = host.requests.length;
    const result = await askPersona(p, readingFor(p, longHistory()), (h) => createHostClient(h, {}, { timeoutMs: 10_000 }));
    expect(result.kind === 'exhausted' && result.attempts.map((a) => a.outcome)).toEqual(['refused']);
    expect(host.requests.length - before).toBe(1);
  });
});

describe('reading a host’s refusal of a request too long (pure)', () => {
  const headers = new Headers();
  it('reads the window and what was asked from each host’s words', () => {
    const openai = OpenAI.APIError.generate(400, { error: { message: "This model's maximum context length is 4096 tokens. However, you requested 5200 tokens (4200 in the messages, 1000 in the completion).", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }, undefined, headers);
    expect(tooLongOf(openai, 400)).toEqual({ limit: 4096, asked: 5200 });
    const anthropic = Anthropic.APIError.generate(400, { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }, undefined, headers);
    expect(tooLongOf(anthropic, 400)).toEqual({ limit: 200000, asked: 210000 });
    const both = Anthropic.APIError.generate(400, { type: 'error', error: { type: 'invalid_request_error', message: 'input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000, decrease input length or `max_tokens` and try again' } }, undefined, headers);
    expect(tooLongOf(both, 400)).toEqual({ limit: 200000, asked: 206192 });
    // llama.cpp's server: its own error type, and the figures as fields.
    const llama = OpenAI.APIError.generate(400, { error: { code: 400, message: 'the request exceeds the available context size, try increasing it', type: 'exceed_context_size_error', n_prompt_tokens: 5000, n_ctx: 4096 } }, undefined, headers);
    expect(tooLongOf(llama, 400)).toEqual({ limit: 4096, asked: 5000 });
    // Hugging Face TGI answers 422, its error a plain string.
    const tgi = OpenAI.APIError.generate(422, { error: 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 1024 `max_new_tokens`', error_type: 'validation' }, undefined, headers);
    expect(tooLongOf(tgi, 422)).toEqual({ limit: 4096 });
  });

  it('leaves other refusals alone', () => {
    const other = OpenAI.APIError.generate(400, { error: { message: 'Invalid value for temperature', type: 'invalid_request_error', code: null } }, undefined, headers);
    expect(tooLongOf(other, 400)).toBeUndefined();
    const overloaded = OpenAI.APIError.generate(503, { error: { message: 'maximum context length is busy', type: 'server_error' } }, undefined, headers);
    expect(tooLongOf(overloaded, 503)).toBeUndefined();
  });

  it('shrinks by the share the host was over by, at least a quarter, half when it gave no figures', () => {
    expect(smallerBudget(6000, 4000, { limit: 4096, asked: 5200 })).toBe(Math.floor(4000 * ((0.9 * 4096) / 5200)));
    expect(smallerBudget(6000, 4000, { limit: 4096, asked: 4100 })).toBe(3000);
    expect(smallerBudget(6000, 4000, {})).toBe(2000);
    expect(smallerBudget(1000, 4000, {})).toBe(500);
  });

  it('budgets a declared window less the answer and the system prompt', () => {
    const p = persona({ id: 'p', name: 'P', systemPrompt: 'x'.repeat(400), sampling: { maxTokens: 1000 }, hosts: [{ provider: 'openai', model: 'm', contextTokens: 4096 }] });
    expect(windowBudget(p.hosts[0]!, p)).toBe(Math.floor((4096 - 1000) * 0.75) - 104);
    expect(windowBudget({ ...p.hosts[0]!, contextTokens: undefined }, p)).toBeUndefined();
  });
});

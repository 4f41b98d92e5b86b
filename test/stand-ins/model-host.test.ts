import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startModelHost } from './model-host.ts';
import type { ModelHost } from './model-host.ts';
import type { MessageCreateParamsNonStreaming, TextBlockParam, Usage } from '@anthropic-ai/sdk/resources/messages';

let host: ModelHost;
beforeEach(async () => {
  host = await startModelHost();
});
afterEach(async () => {
  await host.close();
});

const anthropic = (opts: { maxRetries?: number } = {}) =>
  new Anthropic({ apiKey: 'test-key', baseURL: host.url, ...opts });
const openai = (opts: { maxRetries?: number } = {}) =>
  new OpenAI({ apiKey: 'test-key', baseURL: `${host.url}/v1`, ...opts });

describe('model host: Anthropic Messages', () => {
  it('answers a non-streaming request and records it', async () => {
    host.setResponder(() => ({ text: 'Hello there', usage: { input: 12, output: 3 } }));
    const msg = await anthropic().messages.create({
      model: 'stand-in-sonnet',
      max_tokens: 64,
      messages: [
        { role: 'user', content: 'Say hello' },
        { role: 'assistant', content: 'Hello' }, // prefill: accepted as-is
      ],
    });
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.model).toBe('stand-in-sonnet');
    expect(msg.content).toEqual([{ type: 'text', text: 'Hello there' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.input_tokens).toBe(12);
    expect(msg.usage.output_tokens).toBe(3);
    expect(msg._request_id).toMatch(/^req_/);

    expect(host.requests).toHaveLength(1);
    const rec = host.requests[0]!;
    expect(rec.api).toBe('anthropic');
    expect(rec.path).toBe('/v1/messages');
    // This SDK version sends the key as a bearer token; older ones used x-api-key.
    expect(rec.headers['authorization'] ?? rec.headers['x-api-key']).toMatch(/test-key$/);
    expect(rec.headers['anthropic-version']).toBeTypeOf('string');
    expect(rec.body.messages).toHaveLength(2);
  });

  it('streams events that the SDK assembles into a final message', async () => {
    host.setResponder(() => ({ chunks: ['Once ', 'upon ', 'a time'], usage: { input: 7, output: 4 }, stopReason: 'max_tokens' }));
    const stream = anthropic().messages.stream({
      model: 'stand-in-haiku',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Tell a story' }],
    });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    expect(deltas).toEqual(['Once ', 'upon ', 'a time']);
    expect(final.content).toEqual([{ type: 'text', text: 'Once upon a time' }]);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage.input_tokens).toBe(7);
    expect(final.usage.output_tokens).toBe(4);
    expect(host.requests[0]!.body.stream).toBe(true);
  });

  it('sends SSE events in the documented order', async () => {
    host.setResponder(() => ({ chunks: ['x', 'y'] }));
    const res = await fetch(`${host.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const raw = await res.text();
    const events = [...raw.matchAll(/^event: (\S+)\ndata: (.*)$/gm)].map((m) => {
      expect(JSON.parse(m[2]!).type).toBe(m[1]); // data.type mirrors the event name
      return m[1];
    });
    expect(events).toEqual([
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
  });

  it('returns errors in Anthropic shape, which the SDK maps to its error classes', async () => {
    host.setResponder(() => ({ status: 404, errorType: 'not_found_error', errorMessage: 'model: nope' }));
    const err = await anthropic({ maxRetries: 0 })
      .messages.create({ model: 'nope', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    const apiErr = err as InstanceType<typeof Anthropic.NotFoundError>;
    expect(apiErr.status).toBe(404);
    expect(apiErr.error).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: 'model: nope' } });
    expect(apiErr.requestID).toMatch(/^req_/);

    host.setResponder(() => ({ status: 529 }));
    const overloaded = await anthropic({ maxRetries: 0 })
      .messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'overloaded_error' } });

    host.setResponder(() => ({ status: 429 }));
    const limited = await anthropic({ maxRetries: 0 })
      .messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after')).toBe('1');
  });
});

describe('model host: OpenAI', () => {
  it('answers chat completions without streaming', async () => {
    host.setResponder(() => ({ text: 'hi!', usage: { input: 5, output: 2 } }));
    const res = await openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]?.message.content).toBe('hi!');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    expect(host.requests[0]?.api).toBe('chat');
    expect(host.requests[0]?.headers['authorization']).toBe('Bearer test-key');
  });

  it('streams chat completions with a final usage chunk', async () => {
    host.setResponder(() => ({ chunks: ['a', 'b', 'c'], usage: { input: 9, output: 3 } }));
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'abc' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: unknown = undefined;
    let roles = 0;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const choice = chunk.choices[0];
      if (choice) {
        text += choice.delta.content ?? '';
        if (choice.delta.role) roles++;
        if (choice.finish_reason) finish = choice.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('abc');
    expect(roles).toBe(1);
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 });
  });

  it('streams legacy completions', async () => {
    host.setResponder(() => ({ text: 'continued text', stopReason: 'max_tokens' }));
    const stream = await openai().completions.create({ model: 'davinci-002', prompt: 'Once', stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('text_completion');
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe('continued text');
    expect(finish).toBe('length');
    expect(host.requests[0]?.api).toBe('completions');
    expect(host.requests[0]?.body.prompt).toBe('Once');
  });

  it('answers legacy completions without streaming', async () => {
    const res = await openai().completions.create({ model: 'davinci-002', prompt: 'x' });
    expect(res.object).toBe('text_completion');
    expect(res.choices[0]?.text).toBe('ok');
  });

  it('returns model_not_found as NotFoundError', async () => {
    host.setResponder(() => ({ status: 404, errorType: 'model_not_found', errorMessage: 'The model `x` does not exist' }));
    const err = await openai({ maxRetries: 0 })
      .chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const apiErr = err as InstanceType<typeof OpenAI.NotFoundError>;
    expect(apiErr.status).toBe(404);
    expect(apiErr.code).toBe('model_not_found');
    expect(apiErr.type).toBe('invalid_request_error');
  });

  it('translates Anthropic error names for OpenAI endpoints', async () => {
    host.setResponder(() => ({ status: 404, errorType: 'not_found_error' }));
    const err = await openai({ maxRetries: 0 })
      .completions.create({ model: 'x', prompt: 'hi' })
      .catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });

  it('answers unknown paths with a 404 in OpenAI shape', async () => {
    const res = await fetch(`${host.url}/v1/nowhere`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { error: { type: string; code: unknown } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.code).toBeNull();
    expect(host.requests).toHaveLength(0);
  });
});

describe('model host: control', () => {
  it('nextRequest resolves with the next request received', async () => {
    const next = host.nextRequest();
    const done = anthropic().messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'ping' }] });
    const rec = await next;
    expect(rec.body.messages[0].content).toBe('ping');
    await done;
  });

  it('hold delays the answer until released', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    host.setResponder(() => ({ text: 'late', hold }));
    let settled = false;
    const pending = openai()
      .chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
      .finally(() => (settled = true));
    await host.nextRequest();
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    release();
    const res = await pending;
    expect(res.choices[0]?.message.content).toBe('late');
  });

  it('lets a client abort mid-hold without breaking the host', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    host.setResponder(() => ({ hold }));
    const ac = new AbortController();
    const pending = anthropic({ maxRetries: 0 })
      .messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }, { signal: ac.signal })
      .catch((e: unknown) => e);
    await host.nextRequest();
    ac.abort();
    expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
    release();
    host.setResponder(() => ({ text: 'still here' }));
    const msg = await anthropic().messages.create({ model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    expect(msg.content).toEqual([{ type: 'text', text: 'still here' }]);
  });

  it('delayMs holds the answer back', async () => {
    host.setResponder(() => ({ delayMs: 80 }));
    const started = Date.now();
    await openai().completions.create({ model: 'm', prompt: 'x' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });

  it('a rejected hold drops the connection unanswered', async () => {
    host.setResponder(() => ({ hold: Promise.reject(new Error('drop')) }));
    const err = await openai({ maxRetries: 0 })
      .chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('close() does not hang on a request still held', async () => {
    const stuck = await startModelHost({ responder: () => ({ hold: new Promise(() => {}) }) });
    const client = new OpenAI({ apiKey: 'k', baseURL: `${stuck.url}/v1`, maxRetries: 0 });
    const pending = client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    await stuck.nextRequest();
    await stuck.close();
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
  });
});

// ~1,500 estimated tokens (~4 characters a token): over the 1,024 minimum, under Haiku's 2,048.
const LONG = 'The chorus keeps every persona in character across the whole channel. '.repeat(85);
const ephemeral = { type: 'ephemeral' as const };

/** A conversation whose system and history end in a breakpoint, then a question after it. */
function cachedTurn(question: string, opts: { system?: string; model?: string } = {}): MessageCreateParamsNonStreaming {
  return {
    model: opts.model ?? 'stand-in-sonnet',
    max_tokens: 64,
    system: [{ type: 'text', text: opts.system ?? LONG }],
    messages: [
      { role: 'user', content: 'Earlier: what is the chorus?' },
      { role: 'assistant', content: [{ type: 'text', text: 'A bot of many models.', cache_control: ephemeral }] },
      { role: 'user', content: question },
    ],
  };
}

const total = (u: Usage) => u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

describe('model host: Anthropic prompt caching', () => {
  it('writes the system+history prefix on the first request and reads it on the second', async () => {
    const first = (await anthropic().messages.create(cachedTurn('Question one?'))).usage;
    expect(first.cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(first.cache_read_input_tokens).toBe(0);
    expect(first.cache_creation).toEqual({ ephemeral_5m_input_tokens: first.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 });

    const second = (await anthropic().messages.create(cachedTurn('Question two?'))).usage;
    expect(second.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
    expect(second.cache_creation_input_tokens).toBe(0);
    // input_tokens counts only what follows the last breakpoint, so it is small and the same.
    expect(second.input_tokens).toBe(first.input_tokens);
    expect(second.input_tokens).toBeLessThan(50);
    expect(total(second)).toBe(total(first));

    expect(host.cacheStats().anthropic).toEqual({
      requests: 2,
      reads: 1,
      writes: 1,
      readTokens: second.cache_read_input_tokens,
      writeTokens: first.cache_creation_input_tokens,
      uncachedInputTokens: first.input_tokens + second.input_tokens,
    });
  });

  it('misses when anything before the breakpoint changes, or the model does', async () => {
    await anthropic().messages.create(cachedTurn('Q?'));
    const edited = (await anthropic().messages.create(cachedTurn('Q?', { system: LONG.replace('chorus', 'Chorus') }))).usage;
    expect(edited.cache_read_input_tokens).toBe(0);
    expect(edited.cache_creation_input_tokens).toBeGreaterThan(0);
    const otherModel = (await anthropic().messages.create(cachedTurn('Q?', { model: 'stand-in-opus' }))).usage;
    expect(otherModel.cache_read_input_tokens).toBe(0);
    expect(otherModel.cache_creation_input_tokens).toBeGreaterThan(0);
  });

  it('never caches a prefix below the minimum, which a host may set per model', async () => {
    const short = (await anthropic().messages.create(cachedTurn('Q?', { system: 'Be brief.' }))).usage;
    const again = (await anthropic().messages.create(cachedTurn('Q?', { system: 'Be brief.' }))).usage;
    for (const u of [short, again]) {
      expect(u.cache_creation_input_tokens).toBe(0);
      expect(u.cache_read_input_tokens).toBe(0);
    }
    expect(again.input_tokens).toBe(short.input_tokens); // everything counts as plain input

    const haikuAware = await startModelHost({ cache: { minTokens: (model) => (model.includes('haiku') ? 2048 : 1024) } });
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: haikuAware.url });
      const haiku = (await client.messages.create(cachedTurn('Q?', { model: 'stand-in-haiku' }))).usage;
      expect(haiku.cache_creation_input_tokens).toBe(0);
      const sonnet = (await client.messages.create(cachedTurn('Q?', { model: 'stand-in-sonnet' }))).usage;
      expect(sonnet.cache_creation_input_tokens).toBeGreaterThan(0);
    } finally {
      await haikuAware.close();
    }
  });

  it('refuses more than four breakpoints with a 400, as the API does', async () => {
    const marked = (text: string): TextBlockParam => ({ type: 'text', text, cache_control: ephemeral });
    let consulted = 0;
    host.setResponder(() => {
      consulted++;
      return {};
    });
    const err = await anthropic({ maxRetries: 0 })
      .messages.create({
        model: 'm',
        max_tokens: 8,
        system: [marked('a'), marked('b')],
        messages: [
          { role: 'user', content: [marked('c')] },
          { role: 'assistant', content: [marked('d')] },
          { role: 'user', content: [marked('e')] },
        ],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      error: { type: 'invalid_request_error', message: 'A maximum of 4 blocks with cache_control may be provided. Found 5.' },
    });
    expect(consulted).toBe(0);
    expect(host.requests).toHaveLength(1);

    const four = await anthropic().messages.create({
      model: 'm',
      max_tokens: 8,
      system: [marked('a'), marked('b')],
      messages: [{ role: 'user', content: [marked('c'), marked('d')] }],
    });
    expect(four.type).toBe('message');
  });

  it('looks back from a moved breakpoint to the prefix the last turn cached', async () => {
    const turn1: MessageCreateParamsNonStreaming = {
      model: 'stand-in-sonnet',
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: LONG, cache_control: ephemeral }] }],
    };
    const first = (await anthropic().messages.create(turn1)).usage;
    const turn2: MessageCreateParamsNonStreaming = {
      ...turn1,
      messages: [
        { role: 'user', content: [{ type: 'text', text: LONG }] }, // marker moved on, block unchanged
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'And then?', cache_control: ephemeral }] },
      ],
    };
    const second = (await anthropic().messages.create(turn2)).usage;
    expect(second.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
    expect(second.cache_creation_input_tokens).toBeGreaterThan(0); // only the new turns
    expect(second.cache_creation_input_tokens).toBeLessThan(20);
  });

  it('caches a string and the one text block it is shorthand for as the same prefix', async () => {
    const asBlock: MessageCreateParamsNonStreaming = {
      model: 'stand-in-sonnet',
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: LONG, cache_control: ephemeral }] }],
    };
    const first = (await anthropic().messages.create(asBlock)).usage;
    const asString: MessageCreateParamsNonStreaming = {
      ...asBlock,
      messages: [
        { role: 'user', content: LONG },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'And then?', cache_control: ephemeral }] },
      ],
    };
    expect((await anthropic().messages.create(asString)).usage.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
  });

  it('expires entries after five minutes unused, or an hour with ttl 1h; hits refresh them', async () => {
    let clock = 0;
    const timed = await startModelHost({ cache: { now: () => clock } });
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: timed.url });
      const ask = async (ttl?: '1h') => {
        const body = cachedTurn('Q?');
        if (ttl) body.system = [{ type: 'text', text: LONG, cache_control: { type: 'ephemeral', ttl } }];
        return (await client.messages.create(body)).usage;
      };
      expect((await ask()).cache_creation_input_tokens).toBeGreaterThan(0);
      clock += 4 * 60_000;
      expect((await ask()).cache_read_input_tokens).toBeGreaterThan(0); // and refreshed
      clock += 4 * 60_000;
      expect((await ask()).cache_read_input_tokens).toBeGreaterThan(0);
      clock += 5 * 60_000 + 1;
      expect((await ask()).cache_read_input_tokens).toBe(0);

      timed.clearCache();
      const long = await ask('1h');
      expect(long.cache_creation?.ephemeral_1h_input_tokens).toBeGreaterThan(0);
      clock += 50 * 60_000;
      expect((await ask('1h')).cache_read_input_tokens).toBeGreaterThan(0);
    } finally {
      await timed.close();
    }
  });

  it('refuses a 1h breakpoint after a 5m one', async () => {
    const err = await anthropic({ maxRetries: 0 })
      .messages.create({
        model: 'm',
        max_tokens: 8,
        system: [{ type: 'text', text: 'a', cache_control: ephemeral }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'b', cache_control: { type: 'ephemeral', ttl: '1h' } }] }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('top-level cache_control marks the last block (automatic caching)', async () => {
    const body: MessageCreateParamsNonStreaming = {
      model: 'stand-in-sonnet',
      max_tokens: 8,
      cache_control: ephemeral,
      system: LONG,
      messages: [{ role: 'user', content: 'Hi' }],
    };
    const first = (await anthropic().messages.create(body)).usage;
    const second = (await anthropic().messages.create(body)).usage;
    expect(first.cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(second.cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
  });

  it('streams the same usage in message_start, message_delta and the final message', async () => {
    await anthropic().messages.create(cachedTurn('Warm the cache'));
    const stream = anthropic().messages.stream(cachedTurn('Streamed question'));
    const seen: Record<string, unknown> = {};
    stream.on('streamEvent', (event) => {
      if (event.type === 'message_start') seen['start'] = { ...event.message.usage };
      if (event.type === 'message_delta') seen['delta'] = { ...event.usage };
    });
    const final = (await stream.finalMessage()).usage;
    expect(final.cache_read_input_tokens).toBeGreaterThan(0);
    const inputSide = {
      input_tokens: final.input_tokens,
      cache_read_input_tokens: final.cache_read_input_tokens,
      cache_creation_input_tokens: final.cache_creation_input_tokens,
    };
    expect(seen['start']).toMatchObject(inputSide);
    expect(seen['delta']).toMatchObject({ ...inputSide, output_tokens: final.output_tokens });
  });

  it('lets scripted usage win, cache fields included', async () => {
    host.setResponder(() => ({ usage: { input: 3, output: 2 } }));
    await anthropic().messages.create(cachedTurn('Q?'));
    const plain = (await anthropic().messages.create(cachedTurn('Q?'))).usage;
    expect(plain).toMatchObject({ input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    host.setResponder(() => ({ usage: { input: 3, output: 2, cacheRead: 1500, cacheWrite: 40 } }));
    const scripted = (await anthropic().messages.create(cachedTurn('Q?'))).usage;
    expect(scripted).toMatchObject({ input_tokens: 3, cache_read_input_tokens: 1500, cache_creation_input_tokens: 40 });
  });

  it('clearCache forgets entries; resetCacheStats zeroes the totals', async () => {
    await anthropic().messages.create(cachedTurn('Q?'));
    host.clearCache();
    const after = (await anthropic().messages.create(cachedTurn('Q?'))).usage;
    expect(after.cache_read_input_tokens).toBe(0);
    expect(host.cacheStats().anthropic).toMatchObject({ requests: 2, reads: 0, writes: 2 });
    host.resetCacheStats();
    expect(host.cacheStats().anthropic).toEqual({ requests: 0, reads: 0, writes: 0, readTokens: 0, writeTokens: 0, uncachedInputTokens: 0 });
  });
});

describe('model host: OpenAI prompt caching', () => {
  const chat = (question: string, system = LONG) => ({
    model: 'gpt-4o',
    messages: [
      { role: 'system' as const, content: system },
      { role: 'user' as const, content: question },
    ],
  });

  it('reports cached_tokens for a repeated long prompt, in 128-token steps from 1,024', async () => {
    const first = (await openai().chat.completions.create(chat('One?'))).usage!;
    expect(first.prompt_tokens).toBeGreaterThan(1024);
    expect(first.prompt_tokens_details?.cached_tokens).toBe(0);

    const second = (await openai().chat.completions.create(chat('Two?'))).usage!;
    const cached = second.prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).toBeGreaterThanOrEqual(1024);
    expect((cached - 1024) % 128).toBe(0);
    expect(cached).toBeLessThanOrEqual(second.prompt_tokens);
    expect(second.prompt_tokens - cached).toBeLessThan(128 + 20); // only the unmatched tail and a partial step
    expect(second.prompt_tokens).toBe(first.prompt_tokens); // prompt_tokens still counts the cached ones

    const stats = host.cacheStats().chat;
    expect(stats).toMatchObject({ requests: 2, reads: 1, readTokens: cached });
    expect(stats.uncachedInputTokens).toBe(first.prompt_tokens + second.prompt_tokens - cached);
  });

  it('never caches a prompt under 1,024 tokens', async () => {
    for (let i = 0; i < 2; i++) {
      const usage = (await openai().chat.completions.create(chat('Same?', 'Be brief.'))).usage!;
      expect(usage.prompt_tokens_details?.cached_tokens).toBe(0);
    }
    expect(host.cacheStats().chat).toMatchObject({ requests: 2, reads: 0, writes: 0 });
  });

  it('carries cached_tokens in the final usage chunk of a stream', async () => {
    await openai().chat.completions.create(chat('Warm?'));
    const stream = await openai().chat.completions.create({ ...chat('Streamed?'), stream: true, stream_options: { include_usage: true } });
    let cached: number | undefined;
    for await (const chunk of stream) if (chunk.usage) cached = chunk.usage.prompt_tokens_details?.cached_tokens;
    expect(cached).toBeGreaterThanOrEqual(1024);
  });

  it('drops a prefix after five minutes without use', async () => {
    let clock = 0;
    const timed = await startModelHost({ cache: { now: () => clock } });
    try {
      const client = new OpenAI({ apiKey: 'k', baseURL: `${timed.url}/v1` });
      await client.chat.completions.create(chat('One?'));
      clock += 5 * 60_000 + 1;
      const late = (await client.chat.completions.create(chat('Two?'))).usage!;
      expect(late.prompt_tokens_details?.cached_tokens).toBe(0);
    } finally {
      await timed.close();
    }
  });

  it('does not cache legacy completions, but counts their input', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await openai().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: LONG });
      expect(res.usage?.prompt_tokens_details).toBeUndefined();
    }
    expect(host.cacheStats().completions).toMatchObject({ requests: 2, reads: 0, writes: 0 });
  });
});

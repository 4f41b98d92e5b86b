import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startModelHost } from './model-host.ts';
import type { ModelHost } from './model-host.ts';

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

// A host that sends its headers and a first token, then nothing, or drops the connection: the real
// SDKs against the local model host. The SDKs' own timeout ends at the headers; chorus's limit
// counts silence, and a cut stream is never an answer.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { createHostClient } from '../../core/hosts/clients.ts';
import { askPersona, failureClass, plainReason, RetryableHostError, wholePrompt, type HostAttempt } from '../../core/hosts/fallback.ts';
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
      const asked = askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }), (d) => heard.push(d));
      const err = await asked.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableHostError);
      const attempt = (err as RetryableHostError).attempts[0]!;
      expect(failureClass(attempt)).toBe('timeout');
      expect(attempt.reason).toMatch(/sent nothing for 300 ms/); // the record says why, for every SDK
      expect(heard).toEqual(['The first words ']);
    });
  }

  for (const provider of ['anthropic', 'openai', 'completions'] as const) {
    it(`never takes a stream cut off mid-answer for a whole answer (${provider})`, async () => {
      const p = persona({ id: 'p', name: 'P', hosts: [{ provider, model: 'm', apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] });
      const prompt = buildContext(p, [], msg('u', 'P, a long answer please'), { maxMessages: 5, maxTokens: 1000 }).prompt;
      // The host's connection drops after the first token (a proxy losing its upstream).
      host.setResponder(() => ({ chunks: ['The first words ', 'and the rest'], beforeChunk: (i) => (i === 1 ? Promise.reject(new Error('cut')) : undefined) }));
      const err = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RetryableHostError);
    });
  }

  it('never takes an answer a host ended with finish_reason "error" for a whole answer', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    // OpenRouter ends an answer its provider failed part way with this finish reason.
    host.setResponder(() => ({ chunks: ['Some partial'], stopReason: 'error' }));
    const err = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then((r) => r, (e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableHostError);
  });

  it('reads an overload sent inside an Anthropic stream as an overload, retried later', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'anthropic', model: 'm', apiKeyEnv: 'none', baseUrl: host.url }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    host.setResponder(() => ({ chunks: ['Begun ', 'and never ended'], streamErrorAfter: 1 }));
    const err = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then((r) => r, (e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableHostError);
    const attempt = (err as RetryableHostError).attempts[0]!;
    expect([failureClass(attempt), plainReason(attempt)]).toEqual(['overloaded', 'is overloaded']);
  });

  it('reads an error sent inside an OpenAI-compatible stream as a failure, retried later', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    host.setResponder(() => ({ chunks: ['Begun ', 'and never ended'], streamErrorAfter: 1 }));
    const err = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: 10_000 })).then((r) => r, (e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableHostError);
  });

  it("waits as long as a host's own silenceSeconds says (a model that reasons before its first token)", async () => {
    const base = { provider: 'openai' as const, model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` };
    const prompt = buildContext(persona({ id: 'p', name: 'P', hosts: [base] }), [], msg('u', 'P, think first'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    // Nothing at all for 400 ms, then the answer: over the process-wide limit, within the host's.
    host.setResponder(() => ({ text: 'Considered.', delayMs: 400 }));
    const patient = persona({ id: 'p', name: 'P', hosts: [{ ...base, silenceSeconds: 5 }] });
    const result = await askPersona(patient, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }));
    expect(result.kind === 'answered' && result.completion.text).toBe('Considered.');
    const hasty = persona({ id: 'p', name: 'P', hosts: [base] });
    await expect(askPersona(hasty, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }))).rejects.toBeInstanceOf(RetryableHostError);
  });

  it('keeps waiting while the host keeps sending, however long the whole answer takes', async () => {
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'none', baseUrl: `${host.url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P, slowly'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    // Six tokens at 100 ms each: 600 ms in all, twice the silence limit, never silent for long.
    host.setResponder(() => ({ chunks: ['a ', 'b ', 'c ', 'd ', 'e ', 'f'], chunkDelayMs: 100 }));
    const result = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }));
    expect(result.kind === 'answered' && result.completion.text).toBe('a b c d e f');
  });

  for (const provider of ['anthropic', 'openai', 'completions'] as const) {
    it(`reads a whole JSON answer to a streaming request (a server that ignores stream: true) as the answer it is (${provider})`, async () => {
      const p = persona({ id: 'p', name: 'P', hosts: [{ provider, model: 'm', apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? host.url : `${host.url}/v1` }] });
      const prompt = buildContext(p, [], msg('u', 'P, all at once'), { maxMessages: 5, maxTokens: 1000 }).prompt;
      host.setResponder(() => ({ text: 'The whole answer at once.', ignoreStream: true, stopReason: 'max_tokens', usage: { input: 12, output: 6 } }));
      const heard: string[] = [];
      const before = host.requests.length;
      const result = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS }), (d) => heard.push(d));
      expect(host.requests.length - before).toBe(1);
      expect((host.requests.at(-1)!.body as { stream?: boolean }).stream).toBe(true);
      expect(result).toMatchObject({ kind: 'answered', completion: { text: 'The whole answer at once.', usage: { inputTokens: 12, outputTokens: 6 } } });
      expect(result.kind === 'answered' && result.completion.stopReason).toBe(provider === 'anthropic' ? 'max_tokens' : 'length');
      expect(heard.join('')).toBe('The whole answer at once.');
    });
  }
});

describe('hosts that keep a stream alive, end it early, or refuse inside it (raw wire)', () => {
  // A host answering with whatever SSE lines a test gives it, paced as it says.
  let script: (res: ServerResponse) => Promise<void> = async () => undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => void script(res));
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chat = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const ask = (provider: 'anthropic' | 'openai', hosts: { provider: 'anthropic' | 'openai'; baseUrl: string }[] = [{ provider, baseUrl: provider === 'anthropic' ? url : `${url}/v1` }]) => {
    const p = persona({ id: 'p', name: 'P', hosts: hosts.map((h) => ({ ...h, model: 'm', apiKeyEnv: 'none' })) });
    const prompt = buildContext(p, [], msg('u', 'P, take your time'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    return askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: SILENCE_MS })).then((r) => r, (e: unknown) => e);
  };

  it('counts Anthropic pings as the host being alive: a model thinking longer than the silence limit, pinging, is waited for', async () => {
    script = async (res) => {
      sse(res);
      const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } });
      for (let i = 0; i < 6; i++) {
        await pause(SILENCE_MS / 3);
        event('ping', {});
      }
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Thought it through.' } });
      event('content_block_stop', { index: 0 });
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } });
      event('message_stop', {});
      res.end();
    };
    const result = await ask('anthropic');
    expect(result).toMatchObject({ kind: 'answered', completion: { text: 'Thought it through.', stopReason: 'end_turn' } });
  });

  it('reads an Anthropic-compatible stream that leaves out usage as the whole answer it is (usage unknown)', async () => {
    script = async (res) => {
      sse(res);
      const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      // As MiniMax's endpoint and some proxies send it: no usage on message_start nor message_delta.
      event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'other-vendor-model', content: [], stop_reason: null, stop_sequence: null } });
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Whole, ' } });
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'without counts.' } });
      event('content_block_stop', { index: 0 });
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null } });
      event('message_stop', {});
      res.end();
    };
    expect(await ask('anthropic')).toMatchObject({ kind: 'answered', completion: { text: 'Whole, without counts.', stopReason: 'end_turn', usage: null, model: 'other-vendor-model' } });
  });

  it("takes usage for unknown when the end of an Anthropic stream does not say how many tokens were written", async () => {
    script = async (res) => {
      sse(res);
      const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      // message_start's output count is a placeholder; the real one never comes.
      event('message_start', { message: { id: 'msg_3', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
      event('content_block_start', { index: 0, content_block: { type: 'text', text: 'Counted in part.' } });
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null } });
      event('message_stop', {});
      res.end();
    };
    expect(await ask('anthropic')).toMatchObject({ kind: 'answered', completion: { text: 'Counted in part.', usage: null } });
  });

  it('reads an Anthropic error event by its type: a request too long is refused as too long, not retried as it is', async () => {
    let asked = 0;
    script = async (res) => {
      asked++;
      sse(res);
      const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      if (asked === 1) {
        event('error', { error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } });
        return void res.end();
      }
      event('message_start', { message: { id: 'msg_2', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } });
      event('content_block_start', { index: 0, content_block: { type: 'text', text: 'Shorter, then.' } });
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } });
      event('message_stop', {});
      res.end();
    };
    // (One message: nothing to leave out, so not asked again shorter; a channel's history would be.)
    const result = (await ask('anthropic')) as { kind: string; attempts: HostAttempt[] };
    expect(result).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused', status: 400 }] });
    expect(plainReason(result.attempts[0]!)).toBe('found the conversation too long for the model');
    expect(asked).toBe(1);
  });

  it('never takes an answer vLLM ended with finish_reason "abort" (the engine dropped the request) for a whole answer', async () => {
    script = async (res) => {
      sse(res);
      res.write(chat({ role: 'assistant', content: 'The engine stopped me in the mid' }));
      res.end(chat({}, 'abort') + 'data: [DONE]\n\n');
    };
    const err = await ask('openai');
    expect(err).toBeInstanceOf(RetryableHostError);
  });

  it('counts SSE comments as the host being alive (OpenRouter sends them while a model thinks)', async () => {
    script = async (res) => {
      sse(res);
      for (let i = 0; i < 6; i++) {
        await pause(SILENCE_MS / 3);
        res.write(': OPENROUTER PROCESSING\n\n');
      }
      res.write(chat({ role: 'assistant', content: 'Thought it through.' }));
      res.end(chat({}, 'stop') + 'data: [DONE]\n\n');
    };
    const result = await ask('openai');
    expect(result).toMatchObject({ kind: 'answered', completion: { text: 'Thought it through.', stopReason: 'stop' } });
  });

  it('never takes a stream the host closed cleanly before its finish_reason for a whole answer', async () => {
    script = async (res) => {
      sse(res);
      res.write(chat({ role: 'assistant', content: 'The first words ' }));
      res.end(chat({ content: 'and more' })); // no finish_reason, no [DONE]: the connection just ends
    };
    const err = await ask('openai');
    expect(err).toBeInstanceOf(RetryableHostError);
    expect(plainReason((err as RetryableHostError).attempts[0]!)).toBe('is failing');
  });

  it('takes an answer ended by the stream\'s own end (data: [DONE]) for whole, though no finish_reason came', async () => {
    script = async (res) => {
      sse(res);
      res.write(chat({ role: 'assistant', content: 'The whole answer, ' }));
      res.write(chat({ content: 'complete.' }));
      // The end marker split across writes, as any byte boundary may fall.
      await pause(5);
      res.write('data: [D');
      await pause(5);
      res.write('ON');
      await pause(5);
      res.end('E]\n\n');
    };
    expect(await ask('openai')).toMatchObject({ kind: 'answered', completion: { text: 'The whole answer, complete.', stopReason: null } });
  });

  for (const provider of ['anthropic', 'openai'] as const) {
    it(`moves on at once from a host that answers with a web page, and does not ask it again later (${provider})`, async () => {
      // A base URL that names a web UI or a login page: 200, text/html, to every path.
      script = async (res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><html><body>Open WebUI</body></html>');
      };
      const backup = await startModelHost();
      try {
        backup.setResponder(() => ({ text: 'From the backup.' }));
        const backupUrl = provider === 'anthropic' ? backup.url : `${backup.url}/v1`;
        const result = await ask(provider, [{ provider, baseUrl: provider === 'anthropic' ? url : `${url}/v1` }, { provider, baseUrl: backupUrl }]);
        expect(result).toMatchObject({ kind: 'answered', hostIndex: 1, completion: { text: 'From the backup.' }, attempts: [{ outcome: 'refused' }] });
        const attempt = (result as { attempts: HostAttempt[] }).attempts[0]!;
        expect([failureClass(attempt), plainReason(attempt)]).toEqual(['not-an-api', 'answered with a web page, not as a model API (its address may be wrong)']);
        // Alone, it is a refusal: nothing to try again later.
        expect(await ask(provider)).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused' }] });
      } finally {
        await backup.close();
      }
    });
  }

  it("reads vLLM's flat error, in a 200 body or a stream, as the refusal its code says", async () => {
    const error = { object: 'error', message: "This model's maximum context length is 2048 tokens.", type: 'BadRequestError', param: null, code: 400 };
    script = async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(error));
    };
    expect(await ask('openai')).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused', status: 400 }] });
    script = async (res) => {
      sse(res);
      res.end(`data: ${JSON.stringify({ ...error, code: 404, message: 'The model `m` does not exist.' })}\n\n`);
    };
    expect(await ask('openai')).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused', status: 404 }] });
  });

  it('never repeats a key the host echoes in its error, whatever the key looks like', async () => {
    const key = 'PLAINKEY-abcdef1234567890';
    script = async (res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `Incorrect API key provided: Bearer ${key}.`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    };
    const p = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', apiKeyEnv: 'PROBE_KEY', baseUrl: `${url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    const result = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, { PROBE_KEY: key }, { timeoutMs: SILENCE_MS }));
    expect(result).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused', status: 401 }] });
    expect(JSON.stringify(result)).not.toContain(key);
  });

  it('reads a refusal in a 200 JSON body (a server that ignored stream: true) as the refusal it is', async () => {
    script = async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 403, message: 'Your input was flagged by the provider\'s moderation' } }));
    };
    expect(await ask('openai')).toMatchObject({ kind: 'exhausted', attempts: [{ outcome: 'refused', status: 403 }] });
    // A body that is no answer at all is still no answer: a cut stream, asked again later.
    script = async (res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
    };
    expect(await ask('openai')).toBeInstanceOf(RetryableHostError);
  });

  it('moves on to the next host when one refuses inside a 200 stream, as when it refuses up front', async () => {
    script = async (res) => {
      sse(res);
      res.end(`data: ${JSON.stringify({ error: { code: 403, message: 'Your input was flagged by the provider\'s moderation' } })}\n\n`);
    };
    const backup = await startModelHost();
    try {
      backup.setResponder(() => ({ text: 'From the backup.' }));
      const result = await ask('openai', [{ provider: 'openai', baseUrl: `${url}/v1` }, { provider: 'openai', baseUrl: `${backup.url}/v1` }]);
      expect(result).toMatchObject({ kind: 'answered', hostIndex: 1, completion: { text: 'From the backup.' }, attempts: [{ outcome: 'refused', status: 403 }] });
    } finally {
      await backup.close();
    }
  });
});

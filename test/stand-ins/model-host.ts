// A local stand-in for model provider APIs. It speaks the real wire formats of the
// Anthropic Messages API and the OpenAI Chat Completions / legacy Completions APIs,
// so the official SDKs run unmodified against it. What it answers is scripted per
// request by a Responder. Prompt caching is simulated as the APIs document it (see
// model-host-cache.ts), so usage reports cache reads and writes.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPromptCache, estimateInput, estimateTokens } from './model-host-cache.ts';
import type { CacheOptions, CacheOutcome, CacheStats, ModelApi } from './model-host-cache.ts';

export type { CacheOptions, CacheStats, CacheTotals, ModelApi } from './model-host-cache.ts';

export interface RecordedRequest {
  api: ModelApi;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  // Parsed JSON as the SDK sent it; `any` so tests can poke at fields freely.
  body: any;
  receivedAt: number;
}

export interface ScriptedReply {
  /** Answer text (default 'ok'; or the chunks joined, when only chunks are given). */
  text?: string;
  /** Answer with one JSON body even when the request asked for a stream, as some servers and proxies do. */
  ignoreStream?: boolean;
  /** Non-2xx sends an error in the API's own error shape. */
  status?: number;
  /** Anthropic error.type, or OpenAI error.code; names from either API are translated. */
  errorType?: string;
  errorMessage?: string;
  /** Streaming deltas (default: the text cut into a few pieces). */
  chunks?: string[];
  /** Nothing is sent until this settles; a rejection drops the connection without a reply. */
  hold?: Promise<unknown>;
  delayMs?: number;
  /** Either API's vocabulary; translated (end_turn <-> stop, max_tokens <-> length). */
  stopReason?: string;
  /**
   * Wins over the simulated counts. input is in the API's own sense (Anthropic: after the
   * last cache breakpoint; OpenAI: the whole prompt); cacheRead/cacheWrite default to 0.
   */
  usage?: { input: number; output: number; cacheRead?: number; cacheWrite?: number };
  /** Seconds for the retry-after header on 429/529 (default 1). */
  retryAfter?: number;
  /** Streaming: awaited before delta i is sent, so a test can pace tokens on events. */
  beforeChunk?: (index: number) => Promise<unknown> | undefined;
  /** Streaming: a fixed pause before each delta (benchmarks). */
  chunkDelayMs?: number;
  /**
   * Streaming: after this many deltas, an error inside the stream, as the APIs send one when a
   * generation fails after its 200 (Anthropic: `event: error`; OpenAI-compatible: a data line with
   * `error`), then the response ends. errorType names it (default overloaded_error / server_error).
   */
  streamErrorAfter?: number;
}

export type Responder = (req: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>;

/**
 * The last match of `pattern` (global) in what people said in a request: its user turns, or the
 * whole body for a completions prompt. That names the message a test's model is answering; the last
 * match in the whole body need not: a persona's answer to an earlier message, posted after this one
 * was said, rightly follows it in the context.
 */
export function lastSaid(req: { body: unknown }, pattern: RegExp): RegExpExecArray | undefined {
  const messages = (req.body as { messages?: { role?: string }[] }).messages;
  const said = messages ? messages.filter((m) => m.role === 'user') : req.body;
  return [...JSON.stringify(said).matchAll(pattern)].at(-1);
}

/** The N of the last "number N" people said in a request (see lastSaid). */
export function numberAsked(req: { body: unknown }): string | undefined {
  return lastSaid(req, /number (\d+)/g)?.[1];
}

export interface ModelHost {
  /** Anthropic SDK baseURL = url; OpenAI SDK baseURL = url + '/v1'. */
  url: string;
  requests: RecordedRequest[];
  setResponder(r: Responder): void;
  /** Resolves with the first request received after this call. */
  nextRequest(): Promise<RecordedRequest>;
  close(): Promise<void>;
  /** Per-API cache totals since start (or the last resetCacheStats), as the cache simulated them. */
  cacheStats(): CacheStats;
  resetCacheStats(): void;
  /** Forgets every cached prefix, as if all had expired. */
  clearCache(): void;
}

export interface ModelHostOptions {
  responder?: Responder;
  cache?: CacheOptions;
  /**
   * The model's context window in tokens (the stand-in's estimate of the input, plus max_tokens): a
   * longer request is refused with a 400 in the API's own words, before any model sees it.
   */
  contextWindow?: number | ((model: string) => number | undefined);
}

/** The refusal of a request longer than the model's window, as each API words it; undefined if it fits. */
export function tooLongReply(api: ModelApi, body: Record<string, unknown>, window: number): ScriptedReply | undefined {
  const input = estimateInput(body);
  const completion = typeof body['max_tokens'] === 'number' ? body['max_tokens'] : 0;
  if (input + completion <= window) return undefined;
  if (api === 'anthropic') {
    const errorMessage =
      input > window
        ? `prompt is too long: ${input} tokens > ${window} maximum`
        : `input length and \`max_tokens\` exceed context limit: ${input} + ${completion} > ${window}, decrease input length or \`max_tokens\` and try again`;
    return { status: 400, errorType: 'invalid_request_error', errorMessage };
  }
  if (api === 'chat') {
    const errorMessage = `This model's maximum context length is ${window} tokens. However, you requested ${input + completion} tokens (${input} in the messages, ${completion} in the completion). Please reduce the length of the messages or completion.`;
    return { status: 400, errorType: 'context_length_exceeded', errorMessage };
  }
  // The legacy completions API said it with no code.
  const errorMessage = `This model's maximum context length is ${window} tokens, however you requested ${input + completion} tokens (${input} in your prompt; ${completion} for the completion). Please reduce your prompt; or completion length.`;
  return { status: 400, errorType: 'invalid_request_error', errorMessage };
}

const ROUTES: Record<string, ModelApi> = {
  '/v1/messages': 'anthropic',
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
};

const ANTHROPIC_TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

// OpenAI error {type, code} by status, as its API returns them.
const OPENAI_ERROR_BY_STATUS: Record<number, { type: string; code: string | null }> = {
  400: { type: 'invalid_request_error', code: null },
  401: { type: 'invalid_request_error', code: 'invalid_api_key' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory' },
  404: { type: 'invalid_request_error', code: 'model_not_found' },
  429: { type: 'requests', code: 'rate_limit_exceeded' },
  500: { type: 'server_error', code: null },
  503: { type: 'server_error', code: null },
};

// Lets one responder script errors for either API using one API's names.
const ANTHROPIC_TO_OPENAI_CODE: Record<string, string | null> = {
  not_found_error: 'model_not_found',
  rate_limit_error: 'rate_limit_exceeded',
  authentication_error: 'invalid_api_key',
  overloaded_error: null,
  api_error: null,
  permission_error: null,
  invalid_request_error: null,
};
const OPENAI_TO_ANTHROPIC_TYPE: Record<string, string> = {
  model_not_found: 'not_found_error',
  rate_limit_exceeded: 'rate_limit_error',
  insufficient_quota: 'rate_limit_error',
  invalid_api_key: 'authentication_error',
};

const TO_OPENAI_FINISH: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls' };
const TO_ANTHROPIC_STOP: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' };

function randomId(prefix: string): string {
  return prefix + randomBytes(12).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Cuts text into up to three pieces on code-point boundaries, so streams have several deltas. */
export function splitText(text: string): string[] {
  const chars = Array.from(text);
  if (chars.length <= 1) return chars.length ? [text] : [];
  const size = Math.ceil(chars.length / 3);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

interface Answer {
  model: string;
  text: string;
  deltas: string[];
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  /** OpenAI chat: usage carries prompt_tokens_details, as the real API's does. */
  details: boolean;
  stopReason: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  streamErrorAfter: number | undefined;
  streamErrorType: string | undefined;
  pace: (index: number) => Promise<void>;
}

function answerFor(api: ModelApi, body: Record<string, unknown>, reply: ScriptedReply, cache: CacheOutcome): Answer {
  const text = reply.text ?? (reply.chunks ? reply.chunks.join('') : 'ok');
  const scripted = reply.usage;
  const streamOptions = body['stream_options'] as { include_usage?: unknown } | undefined;
  return {
    model: typeof body['model'] === 'string' ? body['model'] : 'unknown-model',
    text,
    deltas: reply.chunks ?? splitText(text),
    input: scripted ? scripted.input : cache.input,
    output: scripted ? scripted.output : estimateTokens(text),
    cacheRead: scripted ? (scripted.cacheRead ?? 0) : cache.read,
    cacheWrite5m: scripted ? (scripted.cacheWrite ?? 0) : cache.write5m,
    cacheWrite1h: scripted ? 0 : cache.write1h,
    // Scripted usage without cache fields keeps the bare shape older tests expect.
    details: api === 'chat' && (!scripted || scripted.cacheRead !== undefined),
    stopReason: reply.stopReason,
    stream: body['stream'] === true && !reply.ignoreStream,
    includeUsage: streamOptions?.include_usage === true,
    streamErrorAfter: reply.streamErrorAfter,
    streamErrorType: reply.errorType,
    pace: async (index) => {
      await reply.beforeChunk?.(index);
      if (reply.chunkDelayMs) await new Promise((r) => setTimeout(r, reply.chunkDelayMs));
    },
  };
}

function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, payload: unknown): void {
  const data = JSON.stringify(payload);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function startSse(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

function sendError(res: ServerResponse, api: ModelApi, reply: ScriptedReply, requestId: string): void {
  const status = reply.status ?? 500;
  const headers: Record<string, string> = {};
  if (status === 429 || status === 529) headers['retry-after'] = String(reply.retryAfter ?? 1);
  if (api === 'anthropic') {
    const given = reply.errorType;
    const type = (given && OPENAI_TO_ANTHROPIC_TYPE[given]) ?? given ?? ANTHROPIC_TYPE_BY_STATUS[status] ?? 'api_error';
    headers['request-id'] = requestId;
    const message = reply.errorMessage ?? `stand-in ${type}`;
    sendJson(res, status, headers, { type: 'error', error: { type, message }, request_id: requestId });
    return;
  }
  const base = OPENAI_ERROR_BY_STATUS[status] ?? { type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null };
  const given = reply.errorType;
  const code = given === undefined ? base.code : given in ANTHROPIC_TO_OPENAI_CODE ? (ANTHROPIC_TO_OPENAI_CODE[given] ?? null) : given;
  headers['x-request-id'] = requestId;
  const message = reply.errorMessage ?? `stand-in error ${code ?? base.type}`;
  sendJson(res, status, headers, { error: { message, type: base.type, param: null, code } });
}

async function sendAnthropic(res: ServerResponse, a: Answer, requestId: string): Promise<void> {
  const headers = { 'request-id': requestId };
  const id = randomId('msg_');
  const given = a.stopReason;
  const stopReason = given ? (TO_ANTHROPIC_STOP[given] ?? given) : 'end_turn';
  // The input side is known up front, so message_start and the final message agree on it.
  const inputUsage = {
    input_tokens: a.input,
    cache_creation_input_tokens: a.cacheWrite5m + a.cacheWrite1h,
    cache_read_input_tokens: a.cacheRead,
  };
  const cacheCreation = { ephemeral_5m_input_tokens: a.cacheWrite5m, ephemeral_1h_input_tokens: a.cacheWrite1h };
  const message = (content: unknown[], output: number, stop: string | null) => ({
    id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    stop_details: null,
    container: null,
    usage: { ...inputUsage, cache_creation: cacheCreation, output_tokens: output },
  });
  if (!a.stream) {
    sendJson(res, 200, headers, message([{ type: 'text', text: a.text }], a.output, stopReason));
    return;
  }
  startSse(res, headers);
  const event = (type: string, data: Record<string, unknown>) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  event('message_start', { message: message([], 1, null) });
  event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  event('ping', {});
  for (const [i, text] of a.deltas.entries()) {
    if (i === a.streamErrorAfter) {
      const type = a.streamErrorType ?? 'overloaded_error';
      event('error', { error: { type, message: type === 'overloaded_error' ? 'Overloaded' : `stand-in ${type}` } });
      res.end();
      return;
    }
    await a.pace(i);
    if (res.destroyed) return;
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
  }
  event('content_block_stop', { index: 0 });
  event('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null },
    usage: { ...inputUsage, output_tokens: a.output }, // cumulative totals, as the API sends them
  });
  event('message_stop', {});
  res.end();
}

async function sendOpenAi(res: ServerResponse, api: 'chat' | 'completions', a: Answer, requestId: string): Promise<void> {
  const headers = { 'x-request-id': requestId };
  const id = randomId(api === 'chat' ? 'chatcmpl-' : 'cmpl-');
  const object = api === 'chat' ? 'chat.completion' : 'text_completion';
  const created = Math.floor(Date.now() / 1000);
  const given = a.stopReason;
  const finish = given ? (TO_OPENAI_FINISH[given] ?? given) : 'stop';
  const usage = {
    prompt_tokens: a.input,
    completion_tokens: a.output,
    total_tokens: a.input + a.output,
    ...(a.details
      ? {
          prompt_tokens_details: { cached_tokens: a.cacheRead, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
        }
      : {}),
  };
  if (!a.stream) {
    const choice =
      api === 'chat'
        ? { index: 0, message: { role: 'assistant', content: a.text, refusal: null }, logprobs: null, finish_reason: finish }
        : { text: a.text, index: 0, logprobs: null, finish_reason: finish };
    sendJson(res, 200, headers, { id, object, created, model: a.model, choices: [choice], usage });
    return;
  }
  startSse(res, headers);
  const chunkObject = api === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  // With include_usage every chunk carries usage: null until the final usage-only chunk.
  const extra = a.includeUsage ? { usage: null } : {};
  const chunk = (choices: unknown[], more: Record<string, unknown> = extra) => {
    res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: a.model, choices, ...more })}\n\n`);
  };
  // What OpenAI-compatible servers (vLLM, OpenRouter) send when a generation fails mid-stream.
  const streamError = () => {
    const code = a.streamErrorType ?? 'server_error';
    res.write(`data: ${JSON.stringify({ error: { message: `stand-in ${code}`, type: code, param: null, code } })}\n\n`);
    res.end();
  };
  if (api === 'chat') {
    chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]);
    for (const [i, content] of a.deltas.entries()) {
      if (i === a.streamErrorAfter) return streamError();
      await a.pace(i);
      if (res.destroyed) return;
      chunk([{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]);
    }
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]);
  } else {
    for (const [i, text] of a.deltas.entries()) {
      if (i === a.streamErrorAfter) return streamError();
      await a.pace(i);
      if (res.destroyed) return;
      chunk([{ text, index: 0, logprobs: null, finish_reason: null }]);
    }
    chunk([{ text: '', index: 0, logprobs: null, finish_reason: finish }]);
  }
  if (a.includeUsage) chunk([], { usage });
  res.write('data: [DONE]\n\n');
  res.end();
}

export async function startModelHost(opts: ModelHostOptions = {}): Promise<ModelHost> {
  let responder: Responder = opts.responder ?? (() => ({}));
  const cache = createPromptCache(opts.cache);
  const requests: RecordedRequest[] = [];
  let waiters: Array<(req: RecordedRequest) => void> = [];
  // Aborted by close() so pending delays and holds stop waiting.
  const closing = new AbortController();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const requestId = randomId('req_');
    const api = req.method === 'POST' ? ROUTES[path] : undefined;
    if (!api) {
      // OpenAI's own answer to an unknown route.
      const error = { message: `Invalid URL (${req.method} ${path})`, type: 'invalid_request_error', param: null, code: null };
      sendJson(res, 404, { 'x-request-id': requestId }, { error });
      return;
    }
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      sendError(res, api, { status: 400, errorType: 'invalid_request_error', errorMessage: 'Request body is not valid JSON.' }, requestId);
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      sendError(res, api, { status: 400, errorType: 'invalid_request_error', errorMessage: 'Request body must be a JSON object.' }, requestId);
      return;
    }
    const recorded: RecordedRequest = { api, path, headers: { ...req.headers }, body, receivedAt: Date.now() };
    requests.push(recorded);
    const toWake = waiters;
    waiters = [];
    for (const wake of toWake) wake(recorded);

    // The API refuses a request that breaks its caching rules before any model sees it.
    const plan = cache.plan(api, body as Record<string, unknown>);
    if ('error' in plan) {
      sendError(res, api, { status: 400, errorType: 'invalid_request_error', errorMessage: plan.error }, requestId);
      return;
    }
    const model = (body as Record<string, unknown>)['model'];
    const window = typeof opts.contextWindow === 'function' ? opts.contextWindow(String(model)) : opts.contextWindow;
    const tooLong = window === undefined ? undefined : tooLongReply(api, body as Record<string, unknown>, window);
    if (tooLong) {
      sendError(res, api, tooLong, requestId);
      return;
    }
    const reply = await responder(recorded);
    if (reply.hold) {
      try {
        await Promise.race([reply.hold, abortPromise(closing.signal)]);
      } catch {
        res.destroy(); // a rejected hold (or close) drops the connection unanswered
        return;
      }
    }
    if (reply.delayMs) await sleep(reply.delayMs, undefined, { signal: closing.signal });
    // The client may have gone away while we waited; nothing left to answer.
    if (res.destroyed || res.writableEnded) return;
    if (reply.status !== undefined && (reply.status < 200 || reply.status > 299)) {
      sendError(res, api, reply, requestId);
      return;
    }
    // Entries become readable once an answer starts, as the APIs document.
    const answer = answerFor(api, body as Record<string, unknown>, reply, cache.commit(plan));
    if (api === 'anthropic') await sendAnthropic(res, answer, requestId);
    else await sendOpenAi(res, api, answer, requestId);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (closing.signal.aborted || res.destroyed) return;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      const api = ROUTES[(req.url ?? '').split('?')[0] ?? ''] ?? 'chat';
      sendError(res, api, { status: 500, errorMessage: `stand-in responder failed: ${message}` }, randomId('req_'));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setResponder(r) {
      responder = r;
    },
    nextRequest() {
      return new Promise((resolve) => waiters.push(resolve));
    },
    close() {
      closing.abort();
      return new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
    cacheStats: () => cache.stats(),
    resetCacheStats: () => cache.resetStats(),
    clearCache: () => cache.clear(),
  };
}

function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

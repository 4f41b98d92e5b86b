// The edge to model hosts: one small interface, three adapters over the official SDKs.
import { AsyncLocalStorage } from 'node:async_hooks';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { keyEnvOf, type Host } from '../../personas/schema.ts';
import { keepSecret } from '../log.ts';
import type { RequestBody } from '../requests.ts';
import { createReasoningSplitter } from './reasoning.ts';
import { HostAnswerError } from './errors.ts';
import { eventsFor } from './unstreamed.ts';

/**
 * Tokens as the host counted them. `inputTokens` is every token of the request, cached or not (as
 * OpenAI counts prompt_tokens; Anthropic's input_tokens leaves cache reads and writes out, so they
 * are added back), so totals compare across hosts; the cache fields say how many of them the host
 * read from its prompt cache or wrote to it (absent: the host did not say).
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  /** Of outputTokens, those the model spent reasoning (OpenAI-compatible hosts that say). */
  reasoningTokens?: number;
}

export interface Completion {
  /** The answer: what is posted, read by others, parsed. Never the reasoning. */
  text: string;
  /**
   * The model's reasoning, kept apart from its answer: sent in a field of its own (`reasoning_content`,
   * `reasoning`), as Anthropic thinking blocks, or written between `<think>` tags in the text.
   */
  reasoning?: string;
  stopReason: string | null;
  usage: Usage | null;
  /** The model id the host says answered (may differ from the one asked for, e.g. an alias). */
  model: string;
}

export interface HostClient {
  /** Streams the answer; `onText` sees each delta as it arrives. SDK retries are off: the queue retries. */
  complete(request: RequestBody, onText?: (delta: string) => void): Promise<Completion>;
}

export interface HostClientOptions {
  /** The longest a request may go without the host sending anything: headers, or any byte of its answer (a host's `silenceSeconds` wins). */
  timeoutMs: number;
}

/** A stream that ended, without an error, before the host said the answer was finished: a cut answer, not a whole one. */
export class StreamCutError extends Error {
  override name = 'StreamCutError';
  constructor() {
    super('the host ended the stream before the answer was finished');
  }
}

/** The SDKs wrap what their fetch throws as a connection error; a HostAnswerError is thrown as itself. */
function unwrapped(err: unknown): never {
  const cause = (err as { cause?: unknown })?.cause;
  throw cause instanceof HostAnswerError ? cause : err;
}

/** What the fetch below tells the request in progress: every byte heard, and the stream's own end marker. */
interface Wire {
  heard(): void;
  /** The body carried OpenAI's `data: [DONE]`: the host ended the stream on purpose. */
  ended(): void;
}

/** The request in progress's wire, for the fetch below (set around each call to an SDK). */
const listener = new AsyncLocalStorage<Wire>();

/** OpenAI's end of stream, as a line of its own (the SDKs consume it unseen); tested on text that begins a line, after a newline. */
const DONE_LINE = /\ndata: ?\[DONE\]\r?(?:\n|$)/;

/**
 * The SDKs' fetch: every chunk of a response's body counts as the host being alive. Keep-alives are
 * bytes too (Anthropic's `event: ping`, the SSE comments OpenRouter sends while a model thinks),
 * and the SDKs drop them before any event reaches chorus, so a slow model that keeps its stream
 * alive was timed out as silent.
 */
const fetchHeard: typeof fetch = async (input, init) => {
  const wire = listener.getStore();
  const res = await fetch(input, init);
  if (!wire || !res.body) return res;
  wire.heard();
  // The end marker is looked for across chunk boundaries: `line` is the line in progress (from its
  // start), or a mark that it is too long to be the marker.
  const decoder = new TextDecoder();
  let line = '';
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        wire.heard();
        const text = line + decoder.decode(chunk, { stream: true });
        if (DONE_LINE.test(`\n${text}`)) wire.ended();
        const cut = text.lastIndexOf('\n');
        line = cut === -1 ? text : text.slice(cut + 1);
        if (line.length > 16) line = '\u0000';
        out.enqueue(chunk);
      },
      flush() {
        if (DONE_LINE.test(`\n${line}${decoder.decode()}`)) wire.ended();
      },
    }),
  );
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
};

/**
 * The SDKs' fetch: every byte heard (above), and a JSON answer to a streaming request (a server that
 * ignored `stream: true`) read as the stream it stands for (see unstreamed.ts).
 */
const fetchForSdk: typeof fetch = async (input, init) => {
  const res = await fetchHeard(input, init);
  const type = res.headers.get('content-type') ?? '';
  const streaming = typeof init?.body === 'string' && /"stream"\s*:\s*true/.test(init.body);
  // A page where the answer should be: no SDK would find an event in it, and it was taken for a cut stream, asked again and again.
  if (res.ok && streaming && /text\/html/i.test(type)) {
    await res.body?.cancel();
    throw new HostAnswerError(`the host answered with a web page (${type.split(';')[0]}), not its API's answer: is the host's baseUrl its API's address?`);
  }
  const json = res.ok && type.includes('application/json');
  if (!json || !streaming) return res;
  const text = await res.text();
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  let events: string | undefined;
  try {
    events = eventsFor(new URL(url).pathname, JSON.parse(text));
  } catch {
    events = undefined; // not JSON after all: the SDK meets it as it came
  }
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  if (events !== undefined) headers.set('content-type', 'text/event-stream');
  return new Response(events ?? text, { status: res.status, statusText: res.statusText, headers });
};

/**
 * Aborts a request once the host has sent nothing for `ms`. The SDKs' own timeout stops at the
 * response headers, so a stream that stalls after them would hold its turn until undici gives up
 * on the body (five minutes): every byte received starts the wait again.
 */
function silenceLimit(ms: number): { signal: AbortSignal; heard(): void; done(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`the host sent nothing for ${ms} ms (timed out)`)), ms);
  return { signal: controller.signal, heard: () => void timer.refresh(), done: () => clearTimeout(timer) };
}

/** Returns a client for the host, or undefined when its key variable is unset. */
export function createHostClient(host: Host, env: Record<string, string | undefined>, opts: HostClientOptions): HostClient | undefined {
  const keyEnv = keyEnvOf(host);
  const apiKey = keyEnv === undefined ? 'none' : env[keyEnv];
  if (!apiKey) return undefined;
  keepSecret(apiKey);
  // Credentials written into the address itself are secrets too (an error may echo the address).
  if (host.baseUrl) {
    const url = new URL(host.baseUrl);
    // As written and decoded: an error may echo either. (A key may stand as the user name.)
    for (const part of [url.username, url.password]) if (part) keepSecret(part), keepSecret(decodeURIComponent(part));
    for (const [, value] of url.searchParams) keepSecret(value), keepSecret(encodeURIComponent(value));
  }
  const timeoutMs = host.silenceSeconds !== undefined ? host.silenceSeconds * 1000 : opts.timeoutMs;
  const common = { apiKey, maxRetries: 0, timeout: timeoutMs, fetch: fetchForSdk };
  if (host.provider === 'anthropic') {
    return separatingReasoning(anthropicClient(new Anthropic({ ...common, ...(host.baseUrl ? { baseURL: host.baseUrl } : {}) }), timeoutMs), host.thinksFirst);
  }
  return separatingReasoning(openaiClient(new OpenAI({ ...common, ...(host.baseUrl ? { baseURL: host.baseUrl } : {}) }), timeoutMs), host.thinksFirst);
}

/**
 * Every client's answer with the reasoning written in its text (`<think>…</think>`) taken out as it
 * streams: `onText` and the completion's text are the answer only, the reasoning joins whatever
 * the host sent apart.
 */
function separatingReasoning(client: HostClient, thinksFirst: boolean): HostClient {
  return {
    async complete(request, onText) {
      const splitter = createReasoningSplitter({ thinksFirst });
      const done = await client.complete(request, (delta) => {
        const shown = splitter.push(delta);
        if (shown) onText?.(shown);
      });
      const { answer, reasoning: written } = splitter.end(done.stopReason);
      const reasoning = [done.reasoning, written].filter(Boolean).join('\n\n');
      const { reasoning: _, ...rest } = done;
      return { ...rest, text: answer, ...(reasoning ? { reasoning } : {}) };
    },
  };
}

function anthropicClient(sdk: Anthropic, timeoutMs: number): HostClient {
  return {
    async complete(request, onText) {
      if (request.provider !== 'anthropic') throw new Error(`anthropic host cannot send a ${request.provider} request`);
      const silence = silenceLimit(timeoutMs);
      // (Aborted for silence: the reason says so, not the SDK's bare "aborted".)
      const failed = (err: unknown) => unwrapped(silence.signal.aborted ? silence.signal.reason : err);
      try {
        const events = await listener.run({ heard: silence.heard, ended: () => undefined }, () => sdk.messages.create({ ...request.body, stream: true }, { signal: silence.signal })).catch(failed);
        return await readAnthropicStream(events, onText).catch(failed);
      } finally {
        silence.done();
      }
    },
  };
}

/**
 * An Anthropic stream read event by event, as the API documents them, rather than through the SDK's
 * message builder: servers that speak the same API (a proxy, another vendor's endpoint) leave out
 * fields the builder writes into unguarded (`usage` on message_start or message_delta), which threw
 * away whole answers. A field missing is read as unknown; an answer is whole only once
 * `message_stop` came (a stream closed before it was cut).
 */
async function readAnthropicStream(events: AsyncIterable<Anthropic.RawMessageStreamEvent>, onText?: (delta: string) => void): Promise<Completion> {
  let text = '';
  const thoughts = new Map<number, string>();
  let model = '';
  let stopReason: string | null = null;
  let usage: Partial<Anthropic.Usage> | undefined;
  let stopped = false;
  // Known only when the end said how many tokens were written (message_start's is a placeholder).
  let counted = false;
  // Later counts replace earlier ones (message_delta carries the final output, and on newer servers the input again).
  const count = (u: Partial<Anthropic.Usage> | null | undefined) => {
    if (!u) return;
    usage = { ...usage, ...Object.fromEntries(Object.entries(u).filter(([, v]) => v !== null && v !== undefined)) };
  };
  for await (const event of events) {
    switch (event.type) {
      case 'message_start':
        model = event.message?.model ?? model;
        count(event.message?.usage);
        break;
      case 'content_block_start':
        // A thinking block (a server that thinks unasked; chorus asks for none); a redacted one is only named.
        if (event.content_block?.type === 'thinking') thoughts.set(event.index, event.content_block.thinking ?? '');
        if (event.content_block?.type === 'redacted_thinking') thoughts.set(event.index, '[redacted thinking]');
        if (event.content_block?.type === 'text' && event.content_block.text) {
          text += event.content_block.text;
          onText?.(event.content_block.text);
        }
        break;
      case 'content_block_delta':
        if (event.delta?.type === 'text_delta') {
          text += event.delta.text;
          onText?.(event.delta.text);
        } else if (event.delta?.type === 'thinking_delta') thoughts.set(event.index, (thoughts.get(event.index) ?? '') + event.delta.thinking);
        break;
      case 'message_delta':
        stopReason = event.delta?.stop_reason ?? stopReason;
        count(event.usage as Partial<Anthropic.Usage> | undefined);
        if (typeof event.usage?.output_tokens === 'number') counted = true;
        break;
      case 'message_stop':
        stopped = true;
        break;
      default:
        break; // ping, and types newer than this chorus
    }
  }
  if (!stopped) throw new StreamCutError();
  const reasoning = [...thoughts.entries()].sort(([a], [b]) => a - b).map(([, t]) => t).filter(Boolean).join('\n\n');
  return { text, ...(reasoning ? { reasoning } : {}), stopReason, usage: counted && usage?.input_tokens !== undefined ? anthropicUsage(usage) : null, model };
}

function openaiClient(sdk: OpenAI, timeoutMs: number): HostClient {
  return {
    async complete(request, onText) {
      const silence = silenceLimit(timeoutMs);
      let ended = false;
      try {
        return await listener.run({ heard: silence.heard, ended: () => void (ended = true) }, () => streamOpenAI(sdk, request, silence, () => ended, onText));
      } catch (err) {
        return unwrapped(err);
      } finally {
        silence.done();
      }
    },
  };
}

/** An error an OpenAI-compatible host sent as a chunk of its own shape (vLLM: `{"object": "error", "code": 400, …}`), as an error. */
function chunkError(chunk: unknown): HostAnswerError | undefined {
  const c = chunk as { object?: unknown; message?: unknown; code?: unknown };
  if (c?.object !== 'error') return undefined;
  const code = Number(c.code);
  const status = Number.isInteger(code) && code >= 400 && code <= 599 ? code : undefined;
  return new HostAnswerError(typeof c.message === 'string' ? c.message : 'the host sent an error', status);
}

async function streamOpenAI(sdk: OpenAI, request: RequestBody, silence: { signal: AbortSignal }, endedOnPurpose: () => boolean, onText?: (delta: string) => void): Promise<Completion> {
  let text = '';
  let reasoning = '';
  let stopReason: string | null = null;
  let usage: Completion['usage'] = null;
  let model = request.body.model;
  const options = { signal: silence.signal };
  if (request.provider === 'openai') {
    const stream = await sdk.chat.completions.create({ ...request.body, stream: true, stream_options: { include_usage: true } }, options);
    for await (const chunk of stream) {
      const refused = chunkError(chunk);
      if (refused) throw refused;
      model = chunk.model || model;
      const choice = chunk.choices?.[0];
      const delta = choice?.delta?.content ?? '';
      if (delta) {
        text += delta;
        onText?.(delta);
      }
      // Reasoning in a field of its own: vLLM, DeepSeek and llama.cpp call it reasoning_content;
      // OpenRouter, Ollama and newer vLLM, reasoning.
      const apart = choice?.delta as { reasoning_content?: unknown; reasoning?: unknown } | undefined;
      const thought = typeof apart?.reasoning_content === 'string' ? apart.reasoning_content : typeof apart?.reasoning === 'string' ? apart.reasoning : '';
      reasoning += thought;
      if (choice?.finish_reason) stopReason = choice.finish_reason;
      if (chunk.usage) usage = openaiUsage(chunk.usage);
    }
  } else if (request.provider === 'completions') {
    const stream = await sdk.completions.create({ ...request.body, stream: true, stream_options: { include_usage: true } }, options);
    for await (const chunk of stream) {
      const refused = chunkError(chunk);
      if (refused) throw refused;
      model = chunk.model || model;
      const choice = chunk.choices?.[0];
      if (choice?.text) {
        text += choice.text;
        onText?.(choice.text);
      }
      if (choice?.finish_reason) stopReason = choice.finish_reason;
      if (chunk.usage) usage = openaiUsage(chunk.usage);
    }
  } else {
    throw new Error('an OpenAI-compatible host cannot send an anthropic request');
  }
  // The openai SDK ends an aborted stream as if it had finished, and so does a stream the host (or
  // a proxy) closed part-way: a cut answer must not pass for whole. An answer is whole when the host
  // said so: a finish_reason, or the stream's own end (`data: [DONE]`, which some servers and proxies
  // send without a finish_reason; the stop reason is then unknown). "error" (OpenRouter: the
  // provider failed mid-answer) and "abort" (vLLM: the engine dropped the request) end one that is
  // not whole.
  if (silence.signal.aborted) throw silence.signal.reason;
  if ((stopReason === null && !endedOnPurpose()) || stopReason === 'error' || stopReason === 'abort') throw new StreamCutError();
  return { text, ...(reasoning ? { reasoning } : {}), stopReason, usage, model };
}

function anthropicUsage(u: Partial<Anthropic.Usage>): Usage {
  const read = u.cache_read_input_tokens ?? undefined;
  const write = u.cache_creation_input_tokens ?? undefined;
  return {
    inputTokens: (u.input_tokens ?? 0) + (read ?? 0) + (write ?? 0),
    outputTokens: u.output_tokens ?? 0,
    ...(read === undefined ? {} : { cacheReadTokens: read }),
    ...(write === undefined ? {} : { cacheWriteTokens: write }),
  };
}

function openaiUsage(u: OpenAI.CompletionUsage): Usage {
  const read = u.prompt_tokens_details?.cached_tokens;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  return { inputTokens: u.prompt_tokens, outputTokens: u.completion_tokens, ...(read === undefined ? {} : { cacheReadTokens: read }), ...(reasoning ? { reasoningTokens: reasoning } : {}) };
}

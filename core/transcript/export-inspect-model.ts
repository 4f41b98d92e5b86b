// Inspect's shapes for one model call, built from what chorus recorded: the chat messages a model
// was given (read back from the exact request), its generate config, its output and usage, and the
// `model` event that shows it in the viewer's Transcript tab. Field names, required fields and
// defaults follow Inspect's own models (inspect_ai/model/_chat_message.py, _model_output.py,
// _generate_config.py, event/_model.py, event/_base.py). Pure.
import { createHash } from 'node:crypto';
import type { Usage } from '../hosts/clients.ts';
import type { RequestBody } from '../requests.ts';
import type { ModelTurn } from './events.ts';
import { modelName } from './export-jsonl.ts';

export type Content =
  | { type: 'text'; text: string }
  | { type: 'image'; image: string; detail: 'auto' }
  // Inspect's ContentReasoning: the model's reasoning, shown apart from its answer.
  | { type: 'reasoning'; reasoning: string; signature: null; redacted: boolean };

/** An assistant message's content: its words, after its reasoning when it showed any. */
export function assistantContent(text: string, reasoning: string | undefined): string | Content[] {
  return reasoning === undefined ? text : [{ type: 'reasoning', reasoning, signature: null, redacted: false }, { type: 'text', text }];
}

export interface ChatMessage {
  id?: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | Content[];
  source?: 'input' | 'generate';
  /** Assistant messages only: the model that wrote it (chorus writes `provider/model`). */
  model?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Inspect's token accounting: `input_tokens` are those charged at the full rate, cached ones apart;
 * `total_tokens` counts every token (input + cache read + cache write + output).
 */
export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_cache_read?: number;
  input_tokens_cache_write?: number;
  reasoning_tokens?: number;
}

export type StopReason = 'stop' | 'max_tokens' | 'model_length' | 'tool_calls' | 'content_filter' | 'unknown';

export interface ModelOutput {
  model: string;
  choices: { message: ChatMessage & { role: 'assistant' }; stop_reason: StopReason }[];
  completion: string;
  usage?: ModelUsage;
  time?: number;
  metadata?: Record<string, unknown>;
}

export interface GenerateConfig {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop_seqs?: string[];
  cache_prompt?: boolean;
}

/** Fields every Inspect event carries (BaseEvent). */
export interface EventBase {
  uuid: string;
  span_id?: string;
  timestamp: string;
  working_start: number;
  metadata?: Record<string, unknown>;
}

export interface ModelEvent extends EventBase {
  event: 'model';
  model: string;
  role?: string;
  input: ChatMessage[];
  tools: unknown[];
  tool_choice: 'none';
  config: GenerateConfig;
  output: ModelOutput;
  call?: { request: Record<string, unknown>; time?: number };
  completed?: string;
  working_time?: number;
}

const BASE57 = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A 22-character base57 id (the look of Inspect's shortuuid ids), derived from `name`. */
export function shortId(name: string): string {
  let n = BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 32)}`);
  let out = '';
  for (let i = 0; i < 22; i++) {
    out += BASE57[Number(n % 57n)];
    n /= 57n;
  }
  return out;
}

/** Inspect writes datetimes with an explicit offset (`+00:00`), not `Z`. */
export function withOffset(iso: string): string {
  return iso.endsWith('Z') ? `${iso.slice(0, -1)}+00:00` : iso;
}

/** chorus counts every input token in `inputTokens`; Inspect counts cached ones apart. */
export function inspectUsage(u: Usage): ModelUsage {
  const read = u.cacheReadTokens;
  const write = u.cacheWriteTokens;
  // A host that reports more cached tokens than input tokens is taken at its cache counts.
  const input = Math.max(0, u.inputTokens - (read ?? 0) - (write ?? 0));
  return {
    input_tokens: input,
    output_tokens: u.outputTokens,
    total_tokens: input + (read ?? 0) + (write ?? 0) + u.outputTokens,
    ...(read === undefined ? {} : { input_tokens_cache_read: read }),
    ...(write === undefined ? {} : { input_tokens_cache_write: write }),
    ...(u.reasoningTokens === undefined ? {} : { reasoning_tokens: u.reasoningTokens }),
  };
}

/** Adds one call's usage under `key` (a model name or a role), as Inspect's ModelUsage.__add__ does. */
export function addUsage(into: Record<string, ModelUsage>, key: string, u: Usage | null): void {
  const t = (into[key] ??= { input_tokens: 0, output_tokens: 0, total_tokens: 0 });
  if (!u) return;
  const add = inspectUsage(u);
  t.input_tokens += add.input_tokens;
  t.output_tokens += add.output_tokens;
  t.total_tokens += add.total_tokens;
  if (add.input_tokens_cache_read !== undefined) t.input_tokens_cache_read = (t.input_tokens_cache_read ?? 0) + add.input_tokens_cache_read;
  if (add.input_tokens_cache_write !== undefined) t.input_tokens_cache_write = (t.input_tokens_cache_write ?? 0) + add.input_tokens_cache_write;
  if (add.reasoning_tokens !== undefined) t.reasoning_tokens = (t.reasoning_tokens ?? 0) + add.reasoning_tokens;
}

/** The host's stop reason in Inspect's words (its anthropic provider and `as_stop_reason`). */
export function stopReason(raw: string | null): StopReason {
  switch (raw) {
    case 'end_turn':
    case 'stop_sequence':
    case 'stop':
    case 'eos':
      return 'stop';
    case 'max_tokens':
    case 'length':
      return 'max_tokens';
    case 'tool_use':
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'refusal':
    case 'content_filter':
      return 'content_filter';
    case 'model_length':
      return 'model_length';
    default:
      return 'unknown';
  }
}

type Part = { type: string; text?: string; source?: { url?: string }; image_url?: { url?: string } };

function contentOf(c: string | readonly Part[]): string | Content[] {
  if (typeof c === 'string') return c;
  return c.flatMap((p): Content[] => {
    if (p.type === 'text') return [{ type: 'text', text: p.text ?? '' }];
    const url = p.type === 'image' ? p.source?.url : p.type === 'image_url' ? p.image_url?.url : undefined;
    return url ? [{ type: 'image', image: url, detail: 'auto' }] : [];
  });
}

/** The system prompt of a request, as sent (a completions prompt has none apart from its text). */
export function systemOf(request: RequestBody): string | Content[] | undefined {
  if (request.provider === 'anthropic') {
    const s = request.body.system;
    if (s === undefined || s === '' || (Array.isArray(s) && s.length === 0)) return undefined;
    return typeof s === 'string' ? s : s.length === 1 ? s[0]!.text : contentOf(s);
  }
  if (request.provider === 'openai') {
    const first = request.body.messages[0];
    return first?.role === 'system' ? first.content : undefined;
  }
  return undefined;
}

/**
 * The chat messages a model was given, read from the exact request: the system prompt, then each
 * turn in order. A completions host was given one prompt string: it appears as one user message.
 */
export function inputOf(request: RequestBody, idFor: (i: number) => string): ChatMessage[] {
  const msgs: Omit<ChatMessage, 'id' | 'source'>[] = [];
  if (request.provider === 'anthropic') {
    const system = systemOf(request);
    if (system !== undefined) msgs.push({ role: 'system', content: system });
    for (const m of request.body.messages) msgs.push({ role: m.role, content: contentOf(m.content) });
  } else if (request.provider === 'openai') {
    for (const m of request.body.messages) msgs.push({ role: m.role, content: contentOf(m.content) });
  } else {
    msgs.push({ role: 'user', content: request.body.prompt, metadata: { completionsPrompt: true } });
  }
  return msgs.map((m, i) => ({ id: idFor(i), ...m, source: 'input' }));
}

/** Inspect's GenerateConfig for the parameters the request carried. */
export function configOf(request: RequestBody): GenerateConfig {
  const b = request.body;
  const stop = request.provider === 'anthropic' ? request.body.stop_sequences : request.body.stop;
  const cached =
    request.provider === 'anthropic' &&
    ((Array.isArray(request.body.system) && request.body.system.some((s) => s.cache_control)) ||
      request.body.messages.some((m) => Array.isArray(m.content) && m.content.some((c) => c.cache_control)));
  return {
    max_tokens: b.max_tokens,
    ...(b.temperature === undefined ? {} : { temperature: b.temperature }),
    ...(b.top_p === undefined ? {} : { top_p: b.top_p }),
    ...(stop?.length ? { stop_seqs: [...stop] } : {}),
    ...(cached ? { cache_prompt: true } : {}),
  };
}

/** `provider/model` of the model that answered (the one asked for, when the host named none). */
export function turnModel(t: ModelTurn): string {
  return modelName(t.host.provider, t.answeredModel.trim() || t.requestedModel);
}

export interface ModelEventInput {
  turn: ModelTurn;
  /** What the model wrote, as chorus kept it (an answer, a question, a judgement). */
  text: string;
  /** The id of the message that carries `text` in the sample, so output and message are one. */
  messageId: string;
  /** Inspect's model role: the persona that made the call. */
  role: string;
  uuid: string;
  spanId: string;
  workingStart: number;
  idFor: (i: number) => string;
  metadata: Record<string, unknown>;
  messageMetadata?: Record<string, unknown>;
}

/** A `model` event: the call as sent (input, config, the raw request) and as answered. */
export function modelEvent(m: ModelEventInput): ModelEvent {
  const t = m.turn;
  const model = turnModel(t);
  const time = t.latencyMs / 1000;
  return {
    uuid: m.uuid,
    span_id: m.spanId,
    timestamp: withOffset(t.startedAt),
    working_start: m.workingStart,
    event: 'model',
    model,
    role: m.role,
    input: inputOf(t.request, m.idFor),
    tools: [],
    tool_choice: 'none',
    config: configOf(t.request),
    output: {
      model: t.answeredModel,
      choices: [
        {
          message: { id: m.messageId, role: 'assistant', content: assistantContent(m.text, t.reasoning), source: 'generate', model, ...(m.messageMetadata ? { metadata: m.messageMetadata } : {}) },
          stop_reason: stopReason(t.stopReason),
        },
      ],
      completion: m.text,
      ...(t.usage ? { usage: inspectUsage(t.usage) } : {}),
      time,
    },
    call: { request: t.request.body as unknown as Record<string, unknown>, time },
    completed: withOffset(t.finishedAt),
    working_time: time,
    metadata: m.metadata,
  };
}

// A conversation too long for a model's context window: telling a host's refusal of it from other
// refusals, and how much history to send instead. Legacy and local models often have small windows
// (2–16k tokens), and a channel's history only grows: without this, once it outgrew the window,
// every message there would be refused. Pure.
import type { Host, Persona } from '../../personas/schema.ts';
import { estimateTokens, type Prompt } from '../context.ts';

/** What a host said of a request too long for its model: its window and what was asked, when it said. */
export interface TooLong {
  limit?: number;
  asked?: number;
}

// The hosts' own words (OpenAI and OpenRouter, Anthropic, vLLM, llama.cpp, TGI).
const TOO_LONG = /context.?length|context.?window|context.?limit|context.?size|maximum context|prompt is too long|input is too long|too many (input )?tokens|reduce the length|tokens.{0,40}must be <=/i;

/** Whether a host's words say a request was too long for its model. */
export const saysTooLong = (words: string) => TOO_LONG.test(words);

/** The refusal, if this failure (with its HTTP status) is a request too long for the model's window. */
export function tooLongOf(err: unknown, status: number | undefined): TooLong | undefined {
  if (status !== 400 && status !== 413 && status !== 422) return undefined;
  const e = err as { message?: unknown; code?: unknown; type?: unknown; error?: Record<string, unknown> & { error?: Record<string, unknown> } };
  const body = e.error?.error ?? e.error ?? {};
  const words = [e.message, e.code, e.type, body['message'], body['code'], body['type']].filter((w) => typeof w === 'string').join(' ');
  if (!TOO_LONG.test(words)) return undefined;
  const n = (pattern: RegExp) => {
    const m = pattern.exec(words);
    return m ? m.slice(1).map(Number) : undefined;
  };
  const fields = [body['n_ctx'], body['n_prompt_tokens']].map(Number); // llama.cpp's server
  if (Number.isInteger(fields[0]) && Number.isInteger(fields[1])) return { limit: fields[0]!, asked: fields[1]! };
  const plus = n(/(\d+) \+ (\d+) > (\d+)/); // Anthropic: "input length and `max_tokens` exceed context limit: a + b > c"
  if (plus) return { asked: plus[0]! + plus[1]!, limit: plus[2]! };
  const over = n(/(\d+) tokens > (\d+) maximum/); // Anthropic: "prompt is too long: a tokens > b maximum"
  if (over) return { asked: over[0]!, limit: over[1]! };
  const limit = n(/maximum context length is (\d+)/i)?.[0] ?? n(/must be <= (\d+)/)?.[0];
  const asked = n(/(?:requested|resulted in|requested about) (\d+) tokens/i)?.[0];
  return { ...(limit ? { limit } : {}), ...(asked ? { asked } : {}) };
}

/** Each new try keeps at most this share of the history before; a try with no figures, half. */
const MOST_KEPT = 0.75;
const FIGURELESS = 0.5;

/**
 * The history budget (estimated tokens) for the next try, after a refusal of a request whose prompt
 * came to `promptTokens` (estimated) within `budget`: shrunk by the share the host says it was over
 * by (with a margin: its tokenizer is not chorus's estimate), never by less than a quarter.
 */
export function smallerBudget(budget: number, promptTokens: number, said: TooLong): number {
  const from = Math.min(budget, promptTokens);
  const share = said.limit && said.asked && said.asked > said.limit ? Math.min(MOST_KEPT, (0.9 * said.limit) / said.asked) : FIGURELESS;
  return Math.floor(from * Math.max(0.1, share));
}

/** A prompt's size in estimated tokens, whatever its mode. */
export function promptTokens(prompt: Prompt): number {
  const body = 'turns' in prompt ? prompt.turns.map((t) => t.content).join('\n') : prompt.transcript;
  return estimateTokens(prompt.system) + estimateTokens(body);
}

/**
 * The history budget a host's declared window leaves (`contextTokens` in the persona file): the
 * window less the answer's tokens and the system prompt, with a quarter kept spare for the
 * estimate's error. Undefined when the host declares none.
 */
export function windowBudget(host: Host, persona: Persona): number | undefined {
  if (!host.contextTokens) return undefined;
  return Math.max(0, Math.floor((host.contextTokens - persona.sampling.maxTokens) * 0.75) - estimateTokens(persona.systemPrompt));
}

/** Which model a learned budget belongs to: the same model on the same server. */
export const windowKey = (host: Host) => `${host.provider} ${host.baseUrl ?? ''} ${host.model}`;

// Turns a prompt into the exact body each wire format expects. Pure, so the request a model
// received can be tested — and recorded — without a network.
import type { Host, Persona } from '../personas/schema.ts';
import type { Prompt } from './context.ts';

/** Asks an Anthropic host to cache the request up to and including the block that carries it. */
export interface CacheControl {
  type: 'ephemeral';
}
export type AnthropicBlock = { type: 'text'; text: string; cache_control?: CacheControl } | { type: 'image'; source: { type: 'url'; url: string }; cache_control?: CacheControl };
export type AnthropicContent = string | AnthropicBlock[];
export type OpenAIContent = string | ({ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } })[];

export interface AnthropicBody {
  model: string;
  stream?: boolean;
  max_tokens: number;
  system?: string | { type: 'text'; text: string; cache_control?: CacheControl }[];
  messages: { role: 'user' | 'assistant'; content: AnthropicContent }[];
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
}

export interface OpenAIChatBody {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  messages: ({ role: 'system' | 'assistant'; content: string } | { role: 'user'; content: OpenAIContent })[];
  max_tokens: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
}

export interface CompletionsBody {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  prompt: string;
  max_tokens: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
}

export type RequestBody =
  | { provider: 'anthropic'; body: AnthropicBody }
  | { provider: 'openai'; body: OpenAIChatBody }
  | { provider: 'completions'; body: CompletionsBody };

function sampling(persona: Persona): { temperature?: number; top_p?: number } {
  const s = persona.sampling;
  return {
    ...(s.temperature === undefined ? {} : { temperature: s.temperature }),
    ...(s.topP === undefined ? {} : { top_p: s.topP }),
  };
}

/** The instruction that frames a transcript for a chat model asked to continue it. */
export function prefillFraming(prompt: Extract<Prompt, { mode: 'prefill' }>): string {
  return `${prompt.system ? `${prompt.system}\n\n` : ''}Continue the conversation below as ${prompt.speaker}. Write only ${prompt.speaker}'s next message.`;
}

export function requestFor(persona: Persona, host: Host, prompt: Prompt): RequestBody {
  const max_tokens = persona.sampling.maxTokens;
  switch (host.provider) {
    case 'anthropic': {
      if (prompt.mode === 'chat') {
        const messages = prompt.turns.map((t) => ({
          role: t.role,
          content: host.vision && t.images?.length ? [...t.images.map((i) => ({ type: 'image' as const, source: { type: 'url' as const, url: i.url } })), { type: 'text' as const, text: t.content }] : t.content,
        }));
        return {
          provider: 'anthropic',
          body: {
            model: host.model,
            max_tokens,
            ...systemFor(host, prompt.system),
            messages: host.promptCache ? cacheThrough(messages) : messages,
            ...sampling(persona),
          },
        };
      }
      // Prefill: the transcript is the start of the assistant's own turn, which it continues.
      // Anthropic refuses a final assistant turn ending in white space; the transcript ends in ':'.
      return {
        provider: 'anthropic',
        body: {
          model: host.model,
          max_tokens,
          ...systemFor(host, prompt.system),
          messages: [
            { role: 'user', content: `Continue the conversation as ${prompt.speaker}.` },
            { role: 'assistant', content: prompt.transcript },
          ],
          stop_sequences: prompt.stop,
          ...sampling(persona),
        },
      };
    }
    case 'openai': {
      if (prompt.mode === 'chat') {
        const system = prompt.system ? [{ role: 'system' as const, content: prompt.system }] : [];
        const turns = prompt.turns.map((t) =>
          t.role === 'user' && host.vision && t.images?.length
            ? { role: 'user' as const, content: [...t.images.map((i) => ({ type: 'image_url' as const, image_url: { url: i.url } })), { type: 'text' as const, text: t.content }] }
            : { role: t.role, content: t.content },
        );
        return { provider: 'openai', body: { model: host.model, messages: [...system, ...turns], max_tokens, ...sampling(persona) } };
      }
      // Chat Completions has no portable assistant prefill: frame the transcript in a user turn.
      return {
        provider: 'openai',
        body: {
          model: host.model,
          messages: [
            { role: 'system', content: prefillFraming(prompt) },
            { role: 'user', content: prompt.transcript },
          ],
          max_tokens,
          stop: prompt.stop,
          ...sampling(persona),
        },
      };
    }
    case 'completions': {
      const text =
        prompt.mode === 'prefill'
          ? `${prompt.system ? `${prompt.system}\n\n` : ''}${prompt.transcript}`
          : chatAsTranscript(prompt, persona.name);
      return {
        provider: 'completions',
        body: { model: host.model, prompt: text, max_tokens, stop: prompt.mode === 'prefill' ? prompt.stop : ['\n\n'], ...sampling(persona) },
      };
    }
  }
}

// Prompt caching (Anthropic): a breakpoint on the system prompt, and one on the last block of the
// conversation. The host caches the request up to each; the next request in the channel starts
// with the same blocks (the context window's start only moves in steps, see ContextLimits.step), so
// the host finds the earlier breakpoint looking back and reads all of it from cache. Prefixes
// shorter than the model's minimum are simply not cached. Two of the four breakpoints allowed.
const EPHEMERAL: CacheControl = { type: 'ephemeral' };

function systemFor(host: Host, system: string): Pick<AnthropicBody, 'system'> {
  if (!system) return {};
  return { system: host.promptCache ? [{ type: 'text', text: system, cache_control: EPHEMERAL }] : system };
}

function cacheThrough(messages: AnthropicBody['messages']): AnthropicBody['messages'] {
  const last = messages.at(-1);
  if (!last) return messages;
  const blocks: AnthropicBlock[] = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : [...last.content];
  const end = blocks.length - 1;
  blocks[end] = { ...blocks[end]!, cache_control: EPHEMERAL };
  return [...messages.slice(0, -1), { role: last.role, content: blocks }];
}

/** A chat-mode persona on a completions host still needs a prompt string. */
function chatAsTranscript(prompt: Extract<Prompt, { mode: 'chat' }>, name: string): string {
  const lines = prompt.turns.map((t) => (t.role === 'assistant' ? `${name}: ${t.content}` : t.content));
  return `${prompt.system ? `${prompt.system}\n\n` : ''}${lines.join('\n')}\n${name}:`;
}

/**
 * The body exactly as it is sent: chorus streams every answer, and asks OpenAI-compatible hosts for
 * the usage at the end of the stream. What the transcript records, and what the host receives.
 */
export function streamingRequest(request: RequestBody): RequestBody {
  switch (request.provider) {
    case 'anthropic':
      return { provider: 'anthropic', body: { ...request.body, stream: true } };
    case 'openai':
      return { provider: 'openai', body: { ...request.body, stream: true, stream_options: { include_usage: true } } };
    case 'completions':
      return { provider: 'completions', body: { ...request.body, stream: true, stream_options: { include_usage: true } } };
  }
}

// The edge to model hosts: one small interface, three adapters over the official SDKs.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { keyEnvOf, type Host } from '../../personas/schema.ts';
import type { RequestBody } from '../requests.ts';

export interface Completion {
  text: string;
  stopReason: string | null;
  usage: { inputTokens: number; outputTokens: number } | null;
  /** The model id the host says answered (may differ from the one asked for, e.g. an alias). */
  model: string;
}

export interface HostClient {
  /** Streams the answer; `onText` sees each delta as it arrives. SDK retries are off: the queue retries. */
  complete(request: RequestBody, onText?: (delta: string) => void): Promise<Completion>;
}

export interface HostClientOptions {
  timeoutMs: number;
}

/** Returns a client for the host, or undefined when its key variable is unset. */
export function createHostClient(host: Host, env: Record<string, string | undefined>, opts: HostClientOptions): HostClient | undefined {
  const keyEnv = keyEnvOf(host);
  const apiKey = keyEnv === undefined ? 'none' : env[keyEnv];
  if (!apiKey) return undefined;
  const common = { apiKey, maxRetries: 0, timeout: opts.timeoutMs };
  if (host.provider === 'anthropic') {
    return anthropicClient(new Anthropic({ ...common, ...(host.baseUrl ? { baseURL: host.baseUrl } : {}) }));
  }
  return openaiClient(new OpenAI({ ...common, ...(host.baseUrl ? { baseURL: host.baseUrl } : {}) }));
}

function anthropicClient(sdk: Anthropic): HostClient {
  return {
    async complete(request, onText) {
      if (request.provider !== 'anthropic') throw new Error(`anthropic host cannot send a ${request.provider} request`);
      const { stream: _, ...body } = request.body; // the SDK's stream() sends stream: true itself
      const stream = sdk.messages.stream(body);
      if (onText) stream.on('text', (delta) => onText(delta));
      const message = await stream.finalMessage();
      const text = message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
      return {
        text,
        stopReason: message.stop_reason,
        usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
        model: message.model,
      };
    },
  };
}

function openaiClient(sdk: OpenAI): HostClient {
  return {
    async complete(request, onText) {
      let text = '';
      let stopReason: string | null = null;
      let usage: Completion['usage'] = null;
      let model = request.body.model;
      if (request.provider === 'openai') {
        const stream = await sdk.chat.completions.create({ ...request.body, stream: true, stream_options: { include_usage: true } });
        for await (const chunk of stream) {
          model = chunk.model || model;
          const choice = chunk.choices[0];
          const delta = choice?.delta?.content ?? '';
          if (delta) {
            text += delta;
            onText?.(delta);
          }
          if (choice?.finish_reason) stopReason = choice.finish_reason;
          if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        }
      } else if (request.provider === 'completions') {
        const stream = await sdk.completions.create({ ...request.body, stream: true, stream_options: { include_usage: true } });
        for await (const chunk of stream) {
          model = chunk.model || model;
          const choice = chunk.choices[0];
          if (choice?.text) {
            text += choice.text;
            onText?.(choice.text);
          }
          if (choice?.finish_reason) stopReason = choice.finish_reason;
          if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        }
      } else {
        throw new Error('an OpenAI-compatible host cannot send an anthropic request');
      }
      return { text, stopReason, usage, model };
    },
  };
}

// A model's reasoning as real hosts send it, through the real SDKs: in a field of its own
// (reasoning_content, reasoning), as Anthropic thinking blocks, or between <think> tags in the
// answer. What the channel is shown and what later turns read is the answer only; the reasoning
// comes back apart, for the record.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../core/context.ts';
import { createHostClient } from '../../core/hosts/clients.ts';
import { askPersona, wholePrompt } from '../../core/hosts/fallback.ts';
import { msg, persona } from '../unit/helpers.ts';

describe('reasoning as hosts send it', () => {
  let script: (res: ServerResponse) => void = () => undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => script(res));
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const sse = (res: ServerResponse, lines: string[]) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(lines.join(''));
  };
  const chunk = (delta: object, finish: string | null = null, usage?: object) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'r1', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
  const ask = async (provider: 'anthropic' | 'openai' | 'completions') => {
    const p = persona({ id: 'p', name: 'P', contextMode: provider === 'completions' ? 'prefill' : 'chat', hosts: [{ provider, model: 'r1', apiKeyEnv: 'none', baseUrl: provider === 'anthropic' ? url : `${url}/v1` }] });
    const prompt = buildContext(p, [], msg('u', 'P, say hello'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    const shown: string[] = [];
    const result = await askPersona(p, wholePrompt(prompt), (h) => createHostClient(h, {}, { timeoutMs: 5_000 }), (d) => shown.push(d));
    if (result.kind !== 'answered') throw new Error(`not answered: ${JSON.stringify(result)}`);
    return { text: result.completion.text, reasoning: result.completion.reasoning, usage: result.completion.usage, stopReason: result.completion.stopReason, shown: shown.join('') };
  };

  it('reads reasoning_content (vLLM, DeepSeek, llama.cpp) apart, and the reasoning tokens', async () => {
    script = (res) =>
      sse(res, [
        chunk({ role: 'assistant', content: '' }),
        chunk({ reasoning_content: 'The user greets me. ' }),
        chunk({ reasoning_content: 'I greet back.' }),
        chunk({ content: 'Hello there!' }),
        chunk({}, 'stop'),
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'r1', choices: [], usage: { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50, completion_tokens_details: { reasoning_tokens: 30 } } })}\n\n`,
        'data: [DONE]\n\n',
      ]);
    expect(await ask('openai')).toMatchObject({ text: 'Hello there!', shown: 'Hello there!', reasoning: 'The user greets me. I greet back.', usage: { outputTokens: 40, reasoningTokens: 30 } });
  });

  it('reads reasoning (OpenRouter, Ollama) apart', async () => {
    script = (res) => sse(res, [chunk({ role: 'assistant', content: '', reasoning: 'Short thought.' }), chunk({ content: 'Hi.' }), chunk({}, 'stop'), 'data: [DONE]\n\n']);
    expect(await ask('openai')).toMatchObject({ text: 'Hi.', shown: 'Hi.', reasoning: 'Short thought.' });
  });

  it('takes <think> tags out of the answer as it streams (chat and completions), the opening tag missing too', async () => {
    script = (res) => sse(res, [chunk({ role: 'assistant', content: '<thi' }), chunk({ content: 'nk>\nA greeting, then.\n</th' }), chunk({ content: 'ink>\n\nHello!' }), chunk({}, 'stop'), 'data: [DONE]\n\n']);
    expect(await ask('openai')).toMatchObject({ text: 'Hello!', shown: 'Hello!', reasoning: 'A greeting, then.' });
    const completion = (text: string, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c2', object: 'text_completion', created: 1, model: 'r1', choices: [{ index: 0, text, finish_reason: finish }] })}\n\n`;
    script = (res) => sse(res, [completion('The user wants a greeting.\n'), completion('</think>\n\nHello!'), completion('', 'stop'), 'data: [DONE]\n\n']);
    expect(await ask('completions')).toMatchObject({ text: 'Hello!', reasoning: 'The user wants a greeting.' });
  });

  it('reads Anthropic thinking and redacted thinking blocks apart from the text', async () => {
    const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    script = (res) =>
      sse(res, [
        event('message_start', { message: { id: 'm1', type: 'message', role: 'assistant', model: 'r1', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } }),
        event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
        event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Weighing a greeting.' } }),
        event('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'c2lnbmF0dXJl' } }),
        event('content_block_stop', { index: 0 }),
        event('content_block_start', { index: 1, content_block: { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' } }),
        event('content_block_stop', { index: 1 }),
        event('content_block_start', { index: 2, content_block: { type: 'text', text: '' } }),
        event('content_block_delta', { index: 2, delta: { type: 'text_delta', text: 'Hello there!' } }),
        event('content_block_stop', { index: 2 }),
        event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 50 } }),
        event('message_stop', {}),
      ]);
    expect(await ask('anthropic')).toMatchObject({ text: 'Hello there!', shown: 'Hello there!', reasoning: 'Weighing a greeting.\n\n[redacted thinking]' });
  });

  it('an answer that is only reasoning, cut off by the token limit, is an empty answer with its reasoning', async () => {
    script = (res) => sse(res, [chunk({ role: 'assistant', content: '<think>Let me think carefully about' }), chunk({ content: ' this' }, 'length'), 'data: [DONE]\n\n']);
    expect(await ask('openai')).toMatchObject({ text: '', shown: '', reasoning: 'Let me think carefully about this', stopReason: 'length' });
  });
});

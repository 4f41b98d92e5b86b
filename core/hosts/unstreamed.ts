// A host that answers a streaming request with one JSON body: some OpenAI-compatible servers and
// proxies ignore `stream: true`. Such an answer is whole (its body ended as valid JSON), so it is
// read as the stream it stands for, in the API's own event shapes, for the SDKs to parse as ever;
// before, the SDKs found no events in it and the whole answer was taken for a cut stream and asked
// again, up to the last try. Pure.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

/** Which API a request went to, by its path. */
export function apiOfPath(path: string): 'anthropic' | 'chat' | 'completions' | undefined {
  if (/\/messages\/?$/.test(path)) return 'anthropic';
  if (/\/chat\/completions\/?$/.test(path)) return 'chat';
  if (/\/completions\/?$/.test(path)) return 'completions';
  return undefined;
}

/**
 * The server-sent events a JSON answer stands for, for the API at `path`; undefined when the body
 * is no answer of that API (it then reaches the SDK unchanged, and fails as a stream with no end).
 */
export function eventsFor(path: string, body: unknown): string | undefined {
  const api = apiOfPath(path);
  if (!api || !isObject(body)) return undefined;
  if (api === 'anthropic') return anthropicEvents(body);
  // An error in a 200 body, as the streams carry one: the SDK raises it as the host's error.
  if (isObject(body['error'])) return sse({ error: body['error'] });
  // vLLM's error, flat (`{"object": "error", "message": …, "code": 400}`): the chunk it would be in a
  // stream, read where every chunk is (chunkError, core/hosts/clients.ts).
  if (body['object'] === 'error') return sse(body);
  if (!Array.isArray(body['choices'])) return undefined;
  const base = { id: body['id'] ?? 'unstreamed', object: api === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: body['created'] ?? 0, model: body['model'] ?? '' };
  const choices = (body['choices'] as unknown[]).filter(isObject).map((c, i) => {
    const message = isObject(c['message']) ? c['message'] : {};
    const index = typeof c['index'] === 'number' ? c['index'] : i;
    // A whole body is a finished answer even where the server left its reason out.
    const finish_reason = c['finish_reason'] ?? 'stop';
    return api === 'chat' ? { index, delta: { ...message, role: 'assistant' }, finish_reason } : { index, text: c['text'] ?? '', finish_reason };
  });
  const usage = isObject(body['usage']) ? [sse({ ...base, choices: [], usage: body['usage'] })] : [];
  return [...choices.map((c) => sse({ ...base, choices: [c] })), ...usage, 'data: [DONE]\n\n'].join('');
}

function anthropicEvents(message: Json): string | undefined {
  if (message['type'] === 'error' && isObject(message['error'])) return sse(message, 'error');
  if (message['type'] !== 'message' || !Array.isArray(message['content'])) return undefined;
  const usage = isObject(message['usage']) ? message['usage'] : {};
  const events = [sse({ type: 'message_start', message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 0 } } }, 'message_start')];
  (message['content'] as unknown[]).filter(isObject).forEach((block, index) => {
    const delta = (d: Json) => events.push(sse({ type: 'content_block_delta', index, delta: d }, 'content_block_delta'));
    if (block['type'] === 'text') {
      events.push(sse({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, 'content_block_start'));
      delta({ type: 'text_delta', text: block['text'] ?? '' });
    } else if (block['type'] === 'thinking') {
      events.push(sse({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }, 'content_block_start'));
      delta({ type: 'thinking_delta', thinking: block['thinking'] ?? '' });
      delta({ type: 'signature_delta', signature: block['signature'] ?? '' });
    } else {
      events.push(sse({ type: 'content_block_start', index, content_block: block }, 'content_block_start'));
    }
    events.push(sse({ type: 'content_block_stop', index }, 'content_block_stop'));
  });
  events.push(sse({ type: 'message_delta', delta: { stop_reason: message['stop_reason'] ?? 'end_turn', stop_sequence: message['stop_sequence'] ?? null }, usage }, 'message_delta'));
  events.push(sse({ type: 'message_stop' }, 'message_stop'));
  return events.join('');
}

// Request bodies as tests read them: an Anthropic body's cache breakpoints (see core/requests.ts)
// make its system prompt and last turn lists of text blocks; here they read as the strings they
// stand for, so a test of what a model was shown need not know where the cache marks sit.
type Block = { type?: string; text?: string };

const asText = (v: unknown): unknown =>
  Array.isArray(v) && v.every((b: Block) => b?.type === 'text') ? v.map((b: Block) => b.text ?? '').join('') : v;

export function plainBody<T>(body: T): T {
  const b = body as { system?: unknown; messages?: { role: string; content: unknown }[] };
  if (!b || typeof b !== 'object') return body;
  return {
    ...b,
    ...(b.system === undefined ? {} : { system: asText(b.system) }),
    ...(b.messages ? { messages: b.messages.map((m) => ({ ...m, content: asText(m.content) })) } : {}),
  } as T;
}

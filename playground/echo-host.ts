// The playground's echo host: an OpenAI-compatible Chat Completions server on loopback that is not
// a model. It answers with a fixed sentence saying so, and the last message it was sent, streamed a
// word at a time so the page shows a reply being written. Used by the Echo test persona only.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EchoHost {
  url: string;
  close(): Promise<void>;
}

interface ChatBody {
  model?: string;
  stream?: boolean;
  messages?: { role?: string; content?: unknown }[];
}

/** The reply to a conversation. Pure. */
export function echoReply(messages: ChatBody['messages']): string {
  const last = [...(messages ?? [])].reverse().find((m) => m.role === 'user');
  const text = typeof last?.content === 'string' ? last.content : Array.isArray(last?.content) ? last.content.map((p: { text?: string }) => p.text ?? '').join(' ') : '';
  // The context builder puts the speaker's name before their words; the last line is the newest.
  const newest = text.trim().split('\n').at(-1)?.trim() ?? '';
  const shown = newest.length > 300 ? `${newest.slice(0, 300)}…` : newest;
  return `Echo here — a test persona, not a model. I was sent ${messages?.length ?? 0} message(s); the last one ends: “${shown || '(nothing)'}”`;
}

const tokens = (s: string) => Math.max(1, Math.ceil(s.length / 4));

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
}

function fail(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', code: null } }));
}

export async function startEchoHost(opts: { wordDelayMs?: number; port?: number } = {}): Promise<EchoHost> {
  const wordDelayMs = opts.wordDelayMs ?? 60;
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) fail(res, 400, `could not read the request: ${String(err)}`);
      else res.end();
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) return fail(res, 404, 'the echo host serves only POST /v1/chat/completions');
    const body = (await readJson(req)) as ChatBody;
    const reply = echoReply(body.messages);
    const model = body.model ?? 'echo';
    const usage = { prompt_tokens: tokens(JSON.stringify(body.messages ?? [])), completion_tokens: tokens(reply), total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `echo-${Date.now().toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (choices: unknown[], more: Record<string, unknown> = { usage: null }) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...more })}\n\n`);
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    for (const word of reply.split(/(?<= )/)) {
      if (res.destroyed) return;
      chunk([{ index: 0, delta: { content: word }, finish_reason: null }]);
      await sleep(wordDelayMs);
    }
    chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);
    chunk([], { usage });
    res.end('data: [DONE]\n\n');
  }
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

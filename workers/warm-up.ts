// A worker's first model call would otherwise pay for everything it runs for the first time: node's
// HTTP client (loaded and its parser compiled on first use), the SDKs' request and error paths,
// context and request building — 30–60 ms on the first turn after a start. Run them once, before
// taking jobs, against a throwaway server on loopback that refuses the request: no host is asked,
// no key is used, and a failure here only means a colder first turn.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildContext, WINDOW_STEP } from '../core/context.ts';
import { createHostClient } from '../core/hosts/clients.ts';
import { describeError, type Logger } from '../core/log.ts';
import type { ChannelMessage } from '../core/messages.ts';
import { requestFor, streamingRequest } from '../core/requests.ts';
import { keyEnvOf, type Persona } from '../personas/schema.ts';

/** Longest the warm-up may hold a worker's start. */
const LIMIT_MS = 3000;

function refuse(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'chorus warm-up' } }));
  });
}

export async function warmUp(personas: readonly Persona[], log: Logger): Promise<void> {
  const started = performance.now();
  let received = 0;
  const server = createServer((req, res) => {
    received += 1;
    refuse(req, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const trigger: ChannelMessage = { id: '2', authorId: '1', authorName: 'warm-up', content: 'Are you there?', isBot: false, createdAt: new Date(0).toISOString() };
    const history: ChannelMessage[] = [{ ...trigger, id: '1', content: 'Hello.' }];
    // One persona per kind of host: the SDK code is shared by every client of a kind.
    const seen = new Set<string>();
    const calls: Promise<unknown>[] = [];
    for (const persona of personas) {
      const host = persona.hosts[0];
      if (!host || seen.has(host.provider)) continue;
      seen.add(host.provider);
      const context = buildContext(persona, history, trigger, { maxMessages: 20, maxTokens: 4000, step: WINDOW_STEP });
      const request = streamingRequest(requestFor(persona, host, context.prompt));
      const keyEnv = keyEnvOf(host);
      const local = { ...host, baseUrl: host.provider === 'anthropic' ? baseUrl : `${baseUrl}/v1` };
      const client = createHostClient(local, keyEnv ? { [keyEnv]: 'warm-up' } : {}, { timeoutMs: LIMIT_MS });
      calls.push(client?.complete(request).catch(() => undefined) ?? Promise.resolve());
    }
    await Promise.race([Promise.all(calls), new Promise((resolve) => setTimeout(resolve, LIMIT_MS).unref())]);
    log.debug({ ms: Math.round(performance.now() - started), kinds: [...seen], requests: received }, 'warmed up');
  } catch (err) {
    log.debug({ err: describeError(err).message }, 'warm-up skipped');
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

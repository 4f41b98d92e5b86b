// chorus's REST proxy never repeats a request on its own, and never sends one whose caller has
// already given up on it: both would post a message twice.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyRest, proxyHandler } from '../../core/rest-proxy.ts';

let upstream: Server;
let proxy: Server;
let proxyPort = 0;
const received: { path: string; body: string }[] = [];
let answer: (req: IncomingMessage) => { status: number; body: string; gzip?: boolean } = () => ({ status: 200, body: '{"id":"1"}' });

beforeAll(async () => {
  upstream = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    received.push({ path: req.url ?? '', body });
    const a = answer(req);
    // Discord compresses what it sends to a client that accepts it, as fetch says it does.
    const packed = a.gzip && /gzip/.test(String(req.headers['accept-encoding'])) ? gzipSync(a.body) : undefined;
    res.writeHead(a.status, { 'content-type': 'application/json', ...(packed ? { 'content-encoding': 'gzip', 'content-length': String(packed.length) } : {}) }).end(packed ?? a.body);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  // One request a second, so a second request waits in the proxy.
  const rest = createProxyRest(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api`, 1);
  const handle = proxyHandler(rest);
  proxy = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});
afterAll(async () => {
  proxy.closeAllConnections();
  upstream.closeAllConnections();
  await new Promise((r) => proxy.close(r));
  await new Promise((r) => upstream.close(r));
});

function post(path: string, body: string, opts: { abortAfterMs?: number } = {}): Promise<number | 'aborted'> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, path, method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bot test' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve('aborted'));
    if (opts.abortAfterMs) setTimeout(() => req.destroy(), opts.abortAfterMs);
    req.end(body);
  });
}

describe('the REST proxy', () => {
  it('passes on an answer Discord compressed as the plain answer it is', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the gate's second is free
    const big = JSON.stringify({ id: '1', content: 'x'.repeat(5000) });
    answer = () => ({ status: 200, body: big, gzip: true });
    try {
      const res = await fetch(`http://127.0.0.1:${proxyPort}/api/v10/channels/1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bot test' }, body: '{}' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(await res.text()).toBe(big);
    } finally {
      answer = () => ({ status: 200, body: '{"id":"1"}' });
    }
  });

  it('forwards the body intact, and does not repeat a post Discord answered 500', async () => {
    received.length = 0;
    answer = () => ({ status: 500, body: '{"message":"500: Internal Server Error","code":0}' });
    expect(await post('/api/v10/channels/1/messages', '{"content":"once"}')).toBe(500);
    expect(received).toEqual([{ path: '/api/v10/channels/1/messages', body: '{"content":"once"}' }]);
    answer = () => ({ status: 200, body: '{"id":"1"}' });
  });

  it('drops a request whose caller gave up while it waited for the rate limit', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the gate's second is free again
    received.length = 0;
    const first = post('/api/v10/channels/1/messages', '{"content":"first"}');
    // The second waits for the gate (one a second); its caller times out after 200 ms and leaves.
    const second = post('/api/v10/channels/1/messages', '{"content":"gave up"}', { abortAfterMs: 200 });
    expect(await first).toBe(200);
    expect(await second).toBe('aborted');
    await new Promise((r) => setTimeout(r, 1500)); // long enough for the gate to have let it through
    expect(received.map((r) => r.body)).toEqual(['{"content":"first"}']);
  });
});

// Host health checks against a local HTTP host and the real Redis, and the REST proxy process's
// /metrics (Discord REST calls and 429s by route).
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHealthStore, hostId, hostsToCheck, startHealthChecks, type HostHealth } from '../../core/health.ts';
import { createLogger } from '../../core/log.ts';
import type { Host } from '../../personas/schema.ts';
import { buildContext } from '../../core/context.ts';
import type { HostClient } from '../../core/hosts/clients.ts';
import { askPersona, readHealthAhead, wholePrompt } from '../../core/hosts/fallback.ts';
import { msg, persona } from '../unit/helpers.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test-ops-${process.pid}-${Date.now().toString(36)}`;
const log = createLogger('test', 'silent');

let redis: Redis;
let server: Server;
let baseUrl: string;
let status = 200;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"data":[]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Each check, in order, as an awaitable queue. */
function checkQueue() {
  const done: HostHealth[] = [];
  const waiting: ((h: HostHealth) => void)[] = [];
  return {
    push(h: HostHealth) {
      const w = waiting.shift();
      if (w) w(h);
      else done.push(h);
    },
    next(): Promise<HostHealth> {
      const h = done.shift();
      return h ? Promise.resolve(h) : new Promise((r) => waiting.push(r));
    },
  };
}

describe('host health checks', () => {
  const host: Host = persona({ id: 'p', name: 'P', hosts: [{ provider: 'openai', model: 'm', baseUrl: 'http://placeholder/v1', apiKeyEnv: 'TEST_HEALTH_KEY' }] }).hosts[0]!;
  const env = { TEST_HEALTH_KEY: 'health-key' };

  it('checks only hosts that have their key', () => {
    const p = persona({ id: 'q', name: 'Q', hosts: [{ provider: 'anthropic', model: 'a', apiKeyEnv: 'UNSET_KEY' }, { provider: 'openai', model: 'b', apiKeyEnv: 'TEST_HEALTH_KEY' }, { provider: 'openai', model: 'c', apiKeyEnv: 'TEST_HEALTH_KEY' }] });
    expect(hostsToCheck([p], env).map((h) => h.model)).toEqual(['b']);
  });

  it('finds a failing host down after two checks, skipped by fallback, and back after one good check', async () => {
    const store = createHealthStore(redis, `${prefix}-a`);
    const h = { ...host, baseUrl };
    const checks = checkQueue();
    status = 503;
    const before = seen.length;
    const running = startHealthChecks({ hosts: [h], env, store, intervalMs: 100, timeoutMs: 2000, log, onChecked: (_, health) => checks.push(health) });
    try {
      expect(await checks.next()).toMatchObject({ up: true, failures: 1, status: 503, reason: 'overloaded' });
      expect(await store.down([h])).toEqual([false]);
      expect(await checks.next()).toMatchObject({ up: false, failures: 2 });
      expect(await store.down([h])).toEqual([true]);
      status = 200;
      expect(await checks.next()).toMatchObject({ up: true, failures: 0, status: 200 });
      expect(await store.down([h])).toEqual([false]);
    } finally {
      await running.stop();
    }
    // The documented list endpoint, with the key.
    const request = seen[before]!;
    expect(request.url).toBe('/v1/models');
    expect(request.headers.authorization).toBe('Bearer health-key');
  });

  it('has one process check a host per interval, whoever claims it', async () => {
    const store = createHealthStore(redis, `${prefix}-b`);
    const h = { ...host, baseUrl };
    status = 200;
    const before = seen.length;
    const checked: string[] = [];
    const a = startHealthChecks({ hosts: [h], env, store, intervalMs: 60_000, timeoutMs: 2000, log, onChecked: () => checked.push('a') });
    const b = startHealthChecks({ hosts: [h], env, store, intervalMs: 60_000, timeoutMs: 2000, log, onChecked: () => checked.push('b') });
    await Promise.all([a.firstRound, b.firstRound]);
    await Promise.all([a.stop(), b.stop()]);
    expect(checked).toHaveLength(1);
    expect(seen.length - before).toBe(1);
  });

  it('marks a host up again when it answers a request while believed down', async () => {
    const store = createHealthStore(redis, `${prefix}-c`);
    const h = { ...host, baseUrl };
    await store.put('unrelated', { label: 'x', up: false, failures: 2, checkedAt: 0, staleAt: Date.now() + 60_000, reason: 'unreachable' });
    await store.put(hostId(h), { label: 'x', up: false, failures: 2, checkedAt: 0, staleAt: Date.now() + 60_000, reason: 'unreachable' });
    expect(await store.down([h])).toEqual([true]);
    await store.answered(h);
    expect(await store.down([h])).toEqual([false]);
    expect((await store.get('unrelated'))?.up).toBe(false);
  });

  it('counts a model call that failed as a failed check: a host whose model list answers while its calls fail is passed over after two', async () => {
    const store = createHealthStore(redis, `${prefix}-d`, Date.now, 60_000);
    const [first, second]: Host[] = [
      { ...host, baseUrl, model: 'a' },
      { ...host, baseUrl: `${baseUrl}/second`, model: 'b' },
    ];
    const p = persona({ id: 'two', name: 'Two', hosts: [first!, second!] });
    const prompt = buildContext(p, [], msg('u', 'Two?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    const failing = (status: number): HostClient => ({ complete: async () => Promise.reject(Object.assign(new Error(`status ${status}`), { status })) });
    const answering: HostClient = { complete: async () => ({ text: 'from b', stopReason: 'stop', usage: null, model: 'b' }) };
    let firstClient = failing(429);
    const ask = () => askPersona(p, wholePrompt(prompt), (h) => (h.model === 'a' ? firstClient : answering), undefined, readHealthAhead({ health: store }, p));
    // A busy host (429) is not an unwell one: never counted.
    for (let i = 0; i < 3; i++) expect(await ask()).toMatchObject({ kind: 'answered', hostIndex: 1, attempts: [{ hostIndex: 0, outcome: 'failed' }] });
    expect(await store.down([first!])).toEqual([false]);
    firstClient = failing(500);
    await ask();
    expect(await store.down([first!])).toEqual([false]);
    // An answer in between starts the count again: failures count in a row, as checks do.
    firstClient = answering;
    expect(await ask()).toMatchObject({ kind: 'answered', hostIndex: 0 });
    await vi.waitFor(async () => expect(await redis.hget(`${prefix}-d:host-health:request-failures`, hostId(first!))).toBeNull());
    firstClient = failing(500);
    await ask();
    expect(await store.down([first!])).toEqual([false]);
    await ask();
    expect(await store.down([first!, second!])).toEqual([true, false]);
    expect(await store.get(hostId(first!))).toMatchObject({ up: false, reason: 'its requests failed: is failing' });
    // Passed over now: no call to it, the second answers.
    firstClient = { complete: async () => expect.fail('a host known down was asked') };
    expect(await ask()).toMatchObject({ kind: 'answered', hostIndex: 1, attempts: [{ hostIndex: 0, outcome: 'skipped' }] });
    // With the checks off, nothing says a host is back: requests mark none down.
    const unchecked = createHealthStore(redis, `${prefix}-e`, Date.now, 0);
    for (let i = 0; i < 3; i++) await unchecked.failed!(first!, 'is failing');
    expect(await unchecked.down([first!])).toEqual([false]);
  });
});

describe('the REST proxy process', () => {
  it('serves /metrics behind the token: Discord calls and 429s by route, no ids', async () => {
    let calls = 0;
    const upstream = createServer((req, res) => {
      calls += 1;
      // The first answer is a 429 (the proxy's REST waits and sends again), then the messages.
      if (calls === 1) res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0.05', 'x-ratelimit-scope': 'user' }).end('{"message":"You are being rate limited.","retry_after":0.05,"global":false}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api`;
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const proxyPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const token = 'proxy-admin-token-0123456789';
    const child = spawn(process.execPath, ['scripts/rest-proxy.ts'], {
      env: { PATH: process.env.PATH ?? '', DISCORD_UPSTREAM_URL: upstreamUrl, REST_PROXY_PORT: String(proxyPort), REST_PROXY_ADMIN_PORT: '0', ADMIN_TOKEN: token, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      let adminUrl = '';
      await new Promise<void>((resolve, reject) => {
        let ready = 0;
        child.once('exit', (code) => reject(new Error(`rest proxy exited early with ${code}`)));
        lines.on('line', (line) => {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'admin pages ready') adminUrl = entry.url ?? '';
          if (entry.msg === 'admin pages ready' || entry.msg === 'rest proxy ready') ready += 1;
          if (ready === 2) resolve();
        });
      });
      const channelId = '123456789012345678';
      const res = await fetch(`http://127.0.0.1:${proxyPort}/api/v10/channels/${channelId}/messages?limit=5`, { headers: { authorization: 'Bot x' } });
      expect(res.status).toBe(200);
      expect((await fetch(`${adminUrl}/metrics`)).status).toBe(401);
      const metrics = await (await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      expect(metrics).toMatch(/^chorus_discord_rest_requests_total\{method="GET",route="\/channels\/:id\/messages",status="200",process="rest-proxy"\} 1$/m);
      expect(metrics).toMatch(/^chorus_discord_rest_429_total\{method="GET",route="\/channels\/:id\/messages",scope="user",process="rest-proxy"\} 1$/m);
      expect(metrics).toMatch(/^process_resident_memory_bytes\{process="rest-proxy"\} \d+/m);
      expect(metrics).not.toContain(channelId);
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});

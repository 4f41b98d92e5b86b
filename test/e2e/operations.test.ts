// Operations through the whole path: /metrics scraped and parsed after a run, the queue dashboard
// behind the admin token, a host marked down skipped by fallback (and named in /personas), and a
// spent token budget giving one notice and no model call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandInMessage } from '../../local-discord/server.ts';
import { createHealthStore, hostId } from '../../core/health.ts';
import { startHarness, type Harness } from './harness.ts';

const TOKEN = 'operations-test-admin-token';
const opt = (name: string, value: string) => ({ type: 3, name, value });

let h: Harness;
let gatewayUrl: string;
let workerUrl: string;
beforeAll(async () => {
  h = await startHarness({
    // Checks are driven by hand here (a record put in Redis); their loop has its own test.
    env: { ADMIN_TOKEN: TOKEN, GATEWAY_ADMIN_PORT: '0', WORKER_ADMIN_PORT: '0', HEALTH_CHECK_INTERVAL_MS: '0' },
  });
  const [gateway, worker] = await Promise.all([h.gateway.admin, h.workers[0]!.admin]);
  if (!gateway || !worker) throw new Error('admin pages did not start');
  gatewayUrl = gateway.url;
  workerUrl = worker.url;
});
afterAll(async () => {
  await h?.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus's text format, as far as chorus's metrics use it. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

/** The sum of a metric's samples whose labels include `labels`. */
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

const byPersona = (name: string) => (m: StandInMessage) => m.webhook_id !== undefined && m.author.username === name;

describe('operations', () => {
  it('/metrics is scraped and parsed after a run: the counters moved, labels hold no ids', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Opus here.' }));
    h.openaiHost.setResponder(() => ({ text: 'GPT here.' }));
    const [gatewayBefore, workerBefore] = await Promise.all([scrape(gatewayUrl), scrape(workerUrl)]);
    const posts = Promise.all([h.discord.nextMessage(byPersona('Opus')), h.discord.nextMessage(byPersona('GPT'))]);
    const message = await h.discord.userSays({ content: 'Opus and GPT, say hello' });
    expect(await h.routed(message.id)).toBe(2);
    await posts;
    await h.settled();
    const [gateway, worker] = await Promise.all([scrape(gatewayUrl), scrape(workerUrl)]);
    const moved = (after: Sample[], before: Sample[], name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);

    // The gateway: the message routed, two turns queued, its REST calls by route.
    expect(moved(gateway, gatewayBefore, 'chorus_messages_routed_total', { answered: 'yes', process: 'gateway' })).toBe(1);
    expect(moved(gateway, gatewayBefore, 'chorus_turns_queued_total')).toBe(2);
    expect(total(gateway, 'chorus_interview_sessions', { status: 'running' })).toBe(0);
    expect(gateway.filter((x) => x.name === 'chorus_records_waiting').map((x) => x.value)).toEqual([0]);
    // The worker: two turns posted, a reply per persona and host, tokens, Discord calls, latencies.
    expect(moved(worker, workerBefore, 'chorus_turns_total', { state: 'posted', process: 'worker' })).toBe(2);
    expect(moved(worker, workerBefore, 'chorus_replies_total', { persona: 'opus' })).toBe(1);
    expect(moved(worker, workerBefore, 'chorus_replies_total', { persona: 'gpt' })).toBe(1);
    expect(moved(worker, workerBefore, 'chorus_tokens_total', { persona: 'opus', kind: 'input' })).toBeGreaterThan(0);
    expect(moved(worker, workerBefore, 'chorus_tokens_total', { persona: 'gpt', kind: 'output' })).toBeGreaterThan(0);
    expect(moved(worker, workerBefore, 'chorus_discord_rest_requests_total', { method: 'POST', route: '/webhooks/:id/:token', status: '200' })).toBeGreaterThanOrEqual(2);
    // One job: chorus's own latency is measured on its first turn; both answers became visible.
    expect(moved(worker, workerBefore, 'chorus_added_latency_seconds_count')).toBe(1);
    expect(moved(worker, workerBefore, 'chorus_time_to_first_visible_seconds_count', { position: 'first' })).toBe(1);
    expect(moved(worker, workerBefore, 'chorus_time_to_first_visible_seconds_count', { position: 'later' })).toBe(1);
    expect(total(worker, 'chorus_added_latency_seconds_sum')).toBeGreaterThan(0);
    // A command's age when the gateway read it.
    const before = total(gateway, 'chorus_command_age_seconds_count');
    await h.command('personas');
    const after = await scrape(gatewayUrl);
    expect(total(after, 'chorus_command_age_seconds_count') - before).toBe(1);
    // Node's process metrics, one registry a process.
    expect(total(worker, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(gateway.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
    // Bounded labels: no message, channel or guild id anywhere.
    const labels = [...gateway, ...worker].flatMap((s) => Object.values(s.labels)).join(' ');
    for (const id of [message.id, h.discord.channelId, h.discord.guildId]) expect(labels).not.toContain(id);
  });

  it('/metrics and the queue dashboard answer 401 without the token, 200 with it', async () => {
    for (const url of [`${gatewayUrl}/metrics`, `${workerUrl}/metrics`, `${gatewayUrl}/queues`]) {
      const res = await fetch(url);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
      expect((await fetch(url, { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
    }
    const page = await fetch(`${gatewayUrl}/queues`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    expect((await fetch(`${gatewayUrl}/queues/static/images/logo.svg`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // As a browser sends it after asking: Basic, the token as the password. Both queues are there.
    const basic = `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`;
    const api = await fetch(`${gatewayUrl}/queues/api/queues`, { headers: { authorization: basic } });
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: { name: string }[] };
    expect(queues.map((q) => q.name).sort()).toEqual(['interviews', 'replies']);
    // The workers serve no dashboard.
    expect((await fetch(`${workerUrl}/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('skips a host marked down (no request reaches it) and /personas names the host serving now', async () => {
    const legacy = h.personas.find((p) => p.id === 'legacy')!;
    const first = legacy.hosts[0]!;
    const health = createHealthStore(h.redis, h.config.CHORUS_PREFIX);
    const now = Date.now();
    await health.put(hostId(first), { label: 'anthropic-stand-in', up: false, failures: 2, checkedAt: now, staleAt: now + 600_000, reason: 'unreachable' });
    try {
      h.anthropicHost.setResponder(() => ({ text: 'from the first host' }));
      h.openaiHost.setResponder(() => ({ text: 'from the second host' }));
      const before = await scrape(workerUrl);
      const anthropicCalls = h.anthropicHost.requests.length;
      const post = h.discord.nextMessage(byPersona('Legacy'));
      await h.discord.userSays({ content: 'Legacy, are you there?' });
      expect((await post).content).toBe('from the second host');
      await h.settled();
      expect(h.anthropicHost.requests.length).toBe(anthropicCalls);
      const after = await scrape(workerUrl);
      expect(total(after, 'chorus_hosts_skipped_total', { reason: 'down' }) - total(before, 'chorus_hosts_skipped_total', { reason: 'down' })).toBe(1);
      expect(total(after, 'chorus_fallbacks_total', { persona: 'legacy', host: 'second-host' }) - total(before, 'chorus_fallbacks_total', { persona: 'legacy', host: 'second-host' })).toBe(1);
      expect(await h.command('personas')).toMatch(/\*\*Legacy\*\*: via second-host \(2\/2 hosts; down: 127\.0\.0\.1:\d+\)/);
      expect(total(await scrape(gatewayUrl), 'chorus_host_up', { host: 'anthropic-stand-in' })).toBe(0);
    } finally {
      await h.redis.hdel(`${h.config.CHORUS_PREFIX}:host-health`, hostId(first));
    }
  });

  it('hands a reply to the next host at once when the first fails in passing: one post, no notice, no wait for a retry', async () => {
    h.anthropicHost.setResponder(() => ({ status: 529, errorType: 'overloaded_error', errorMessage: 'Overloaded' }));
    h.openaiHost.setResponder(() => ({ text: 'from the second host, at once' }));
    try {
      const [anthropicCalls, openaiCalls] = [h.anthropicHost.requests.length, h.openaiHost.requests.length];
      const post = h.discord.nextMessage(byPersona('Legacy'));
      await h.discord.userSays({ content: 'Legacy, are you there?' });
      expect((await post).content).toBe('from the second host, at once');
      await h.settled();
      expect([h.anthropicHost.requests.length - anthropicCalls, h.openaiHost.requests.length - openaiCalls]).toEqual([1, 1]);
      expect(h.discord.messages().filter((m) => m.content.includes('could not answer'))).toEqual([]);
    } finally {
      h.anthropicHost.setResponder(() => ({ text: 'ok' }));
    }
  });

  it('a spent budget gives one notice in the channel and no model call', async () => {
    const setBudget = (value: string) =>
      h.command('config', [{ type: 1, name: 'set', options: [opt('key', 'personaDailyTokens'), opt('value', value), opt('scope', 'guild')] }]);
    expect(await h.command('config', [{ type: 1, name: 'set', options: [opt('key', 'personaDailyTokens'), opt('value', '5')] }])).toMatch(/server budget; add `scope: server`/);
    expect(await setBudget('1,000')).toMatch(/\*\*personaDailyTokens\*\*: 1,000 — \*from the server\*/);
    try {
      // The first answer spends more than the budget (the stand-in counts the prompt's tokens).
      h.anthropicHost.setResponder(() => ({ text: 'A long answer.', usage: { input: 1500, output: 20 } }));
      const answered = h.discord.nextMessage(byPersona('Opus'));
      await h.discord.userSays({ content: 'Opus, spend it' });
      expect((await answered).content).toBe('A long answer.');
      await h.settled();

      const calls = h.anthropicHost.requests.length;
      const isNotice = (m: StandInMessage) => m.webhook_id === undefined && /Opus has spent its daily token budget in this server \([\d,]+ of 1,000 tokens\)/.test(m.content);
      const notice = h.discord.nextMessage(isNotice);
      const before = await scrape(workerUrl);
      const second = await h.discord.userSays({ content: 'Opus, once more' });
      expect(await h.routed(second.id)).toBe(1);
      await notice;
      const third = await h.discord.userSays({ content: 'Opus, and again' });
      expect(await h.routed(third.id)).toBe(1);
      await h.settled();
      expect(h.anthropicHost.requests.length).toBe(calls);
      expect(h.discord.messages().filter(isNotice)).toHaveLength(1);
      expect(h.discord.messages().filter(byPersona('Opus')).at(-1)?.content).toBe('A long answer.');
      const after = await scrape(workerUrl);
      expect(total(after, 'chorus_turns_total', { state: 'over-budget' }) - total(before, 'chorus_turns_total', { state: 'over-budget' })).toBe(2);
      // Another persona's budget is its own.
      h.openaiHost.setResponder(() => ({ text: 'GPT still answers.' }));
      const gpt = h.discord.nextMessage(byPersona('GPT'));
      await h.discord.userSays({ content: 'GPT, are you out too?' });
      expect((await gpt).content).toBe('GPT still answers.');
    } finally {
      await h.command('config', [{ type: 1, name: 'reset', options: [opt('key', 'personaDailyTokens'), opt('scope', 'guild')] }]);
    }
  });
});

// The pure parts of operations: budget arithmetic, health-driven host order, health records, the
// admin token check, metric labels.
import { describe, expect, it } from 'vitest';
import { authorized } from '../../core/admin-server.ts';
import { budgetNotice, checkBudget, dayOf, hoursUntilReset, limitsOf, tokensOf } from '../../core/budgets.ts';
import { buildContext } from '../../core/context.ts';
import { FAILURES_TO_DOWN, hostId, isKnownDown, judgeProbe, nextHealth, probeRequest, type HostHealth } from '../../core/health.ts';
import type { Completion, HostClient } from '../../core/hosts/clients.ts';
import { askPersona, failureClass, HOST_DOWN_REASON, hostsToSkip, plainReason, readHealthAhead, type HostEvent, type HostHealthView, wholePrompt } from '../../core/hosts/fallback.ts';
import { unavailableNotice } from '../../core/hosts/notices.ts';
import { createRegistry, routeLabel, workerMetrics } from '../../core/metrics.ts';
import { describePersonas, servingHost } from '../../commands/personas.ts';
import { msg, persona } from './helpers.ts';

describe('token budgets', () => {
  it('is spent at the limit, the server before the persona, and 0 means no limit', () => {
    expect(checkBudget({ guild: 999, persona: 10 }, { guild: 1000, persona: 0 })).toEqual({ ok: true });
    expect(checkBudget({ guild: 1000, persona: 10 }, { guild: 1000, persona: 0 })).toEqual({ ok: false, scope: 'guild', used: 1000, limit: 1000 });
    expect(checkBudget({ guild: 5000, persona: 5000 }, { guild: 1000, persona: 100 })).toMatchObject({ scope: 'guild' });
    expect(checkBudget({ guild: 500, persona: 120 }, { guild: 1000, persona: 100 })).toEqual({ ok: false, scope: 'persona', used: 120, limit: 100 });
    expect(checkBudget({ guild: 10 ** 9, persona: 10 ** 9 }, { guild: 0, persona: 0 })).toEqual({ ok: true });
  });

  it('counts every input token (cached too) and every output token', () => {
    expect(tokensOf({ inputTokens: 1200, outputTokens: 300, cacheReadTokens: 1000 })).toBe(1500);
    expect(tokensOf(null)).toBe(0);
    expect(tokensOf(undefined)).toBe(0);
  });

  it('reads limits from settings, jobs without them meaning no limit', () => {
    expect(limitsOf({ guildDailyTokens: 5, personaDailyTokens: 7 })).toEqual({ guild: 5, persona: 7 });
    expect(limitsOf({})).toEqual({ guild: 0, persona: 0 });
  });

  it('counts by UTC day and says when the budget comes back', () => {
    const lateEvening = Date.UTC(2026, 10, 30, 22, 30);
    expect(dayOf(lateEvening)).toBe('2026-11-30');
    expect(dayOf(Date.UTC(2026, 11, 1, 0, 0, 1))).toBe('2026-12-01');
    expect(hoursUntilReset(lateEvening)).toBe(2);
    expect(hoursUntilReset(Date.UTC(2026, 10, 30, 23, 59, 59))).toBe(1);
    const notice = budgetNotice({ ok: false, scope: 'persona', used: 12_345, limit: 10_000 }, 'Opus', lateEvening);
    expect(notice).toContain('Opus has spent its daily token budget in this server (12,345 of 10,000 tokens)');
    expect(notice).toContain('about 2 h');
    expect(budgetNotice({ ok: false, scope: 'guild', used: 1, limit: 1 }, 'Opus', lateEvening)).toMatch(/^This server's daily token budget is spent/);
  });
});

describe('health-driven host order', () => {
  it('skips hosts known to be down while another usable host is up', () => {
    expect(hostsToSkip([true, true, true], [true, false, true])).toEqual([true, false, true]);
    // A host without its key is never "up": it cannot stand in for a down one.
    expect(hostsToSkip([true, false], [true, false])).toEqual([false, false]);
  });

  it('tries every host when all usable ones are down, so a recovery is noticed', () => {
    expect(hostsToSkip([true, true], [true, true])).toEqual([false, false]);
    expect(hostsToSkip([true, true], [])).toEqual([false, false]);
  });

  const two = persona({ id: 'p', name: 'P', hosts: [{ provider: 'anthropic', model: 'a', apiKeyEnv: 'none' }, { provider: 'openai', model: 'b', apiKeyEnv: 'none', label: 'second' }] });
  const prompt = buildContext(two, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
  const answering = (text: string, calls: string[]): HostClient => ({
    complete: async (): Promise<Completion> => {
      calls.push(text);
      return { text, stopReason: 'end_turn', usage: { inputTokens: 10, outputTokens: 2 }, model: 'm' };
    },
  });
  const view = (down: boolean[], recovered: string[] = []): HostHealthView => ({
    down: async () => down,
    answered: async (h) => void recovered.push(h.model),
  });

  it('asks the next host without a request to the one marked down, and says why', async () => {
    const calls: string[] = [];
    const events: HostEvent[] = [];
    const clients = [answering('from a', calls), answering('from b', calls)];
    const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)], undefined, { health: view([true, false]), observe: (e) => events.push(e) });
    expect(result).toMatchObject({ kind: 'answered', hostIndex: 1, attempts: [{ hostIndex: 0, outcome: 'skipped', reason: HOST_DOWN_REASON }] });
    expect(calls).toEqual(['from b']);
    expect(events.map((e) => e.kind)).toEqual(['skipped', 'answered']);
    expect(plainReason({ hostIndex: 0, host: 'x', model: 'a', outcome: 'skipped', reason: HOST_DOWN_REASON })).toBe('was down at its last checks');
  });

  it('reads health once, ahead of the model call, and skips by what it read', async () => {
    const calls: string[] = [];
    const reads: string[][] = [];
    const health: HostHealthView = {
      down: async (hosts) => {
        reads.push(hosts.map((h) => h.model));
        return [true, false];
      },
      answered: async () => {},
    };
    const ahead = readHealthAhead({ health }, two);
    expect(reads).toEqual([['a', 'b']]); // started at once, beside the turn's other reads
    const clients = [answering('from a', calls), answering('from b', calls)];
    const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)], undefined, ahead);
    expect(result).toMatchObject({ kind: 'answered', hostIndex: 1 });
    expect(reads).toHaveLength(1);
    expect(readHealthAhead({ health }, { ...two, hosts: [two.hosts[0]!] })).toEqual({ health }); // one host: no choice, no read
    expect(reads).toHaveLength(1);
  });

  it('asks a down host when every host is down, and marks it up when it answers', async () => {
    const calls: string[] = [];
    const recovered: string[] = [];
    const clients = [answering('from a', calls), answering('from b', calls)];
    const result = await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)], undefined, { health: view([true, true], recovered) });
    expect(result).toMatchObject({ kind: 'answered', hostIndex: 0 });
    expect(calls).toEqual(['from a']);
    expect(recovered).toEqual(['a']);
  });

  it('says a skipped down host in plain words when nothing else answers', () => {
    const notice = unavailableNotice(two, [
      { hostIndex: 0, host: 'x', model: 'a', outcome: 'skipped', reason: HOST_DOWN_REASON },
      { hostIndex: 1, host: 'y', model: 'b', outcome: 'refused', reason: 'gone', status: 404 },
    ]);
    expect(notice).toBe('*P could not answer: no host serves this model right now (was down at its last checks; no longer serves the model).*');
  });

  it('/personas names the host that serves each persona now', () => {
    const now = 1_000_000;
    const down: HostHealth = { label: 'anthropic', up: false, failures: 2, checkedAt: now - 1000, staleAt: now + 60_000, reason: 'unreachable' };
    const health = new Map([[hostId(two.hosts[0]!), down]]);
    expect(servingHost(two, {}, health, now).host?.model).toBe('b');
    expect(servingHost(two, {}, health, now + 120_000).host?.model).toBe('a'); // the record went stale
    expect(describePersonas([two], ['p'], {}, health, now)).toContain('**P**: via second (2/2 hosts; down: anthropic)');
    expect(describePersonas([two], ['p'], {}, new Map(), now)).toContain('**P**: via anthropic (2/2 hosts)');
  });
});

describe('health records', () => {
  it('judges check answers: key refused and server failures are down; busy or unlisted is up', () => {
    expect(judgeProbe(200).ok).toBe(true);
    expect(judgeProbe(200, undefined, 'application/json; charset=utf-8').ok).toBe(true);
    expect(judgeProbe(200, undefined, 'text/html; charset=utf-8')).toEqual({ ok: false, status: 200, reason: 'answered with a web page' });
    expect(judgeProbe(429).ok).toBe(true);
    expect(judgeProbe(404).ok).toBe(true);
    for (const s of [401, 403, 500, 502, 503, 529]) expect(judgeProbe(s).ok).toBe(false);
    expect(judgeProbe(undefined, 'The operation was aborted due to timeout')).toEqual({ ok: false, reason: 'timed out' });
    expect(judgeProbe(undefined, 'fetch failed')).toEqual({ ok: false, reason: 'unreachable' });
  });

  it('counts a host down only after failures in a row, up again after one success, stale after three intervals', () => {
    const fail = { ok: false, reason: 'unreachable' };
    let h = nextHealth(undefined, fail, 'x', 0, 1000);
    expect(h).toMatchObject({ up: FAILURES_TO_DOWN > 1, failures: 1 });
    h = nextHealth(h, fail, 'x', 1000, 1000);
    expect(h).toMatchObject({ up: false, failures: 2, staleAt: 4000 });
    expect(isKnownDown(h, 3999)).toBe(true);
    expect(isKnownDown(h, 4000)).toBe(false);
    h = nextHealth(h, { ok: true, status: 200, reason: 'answered' }, 'x', 2000, 1000);
    expect(h).toMatchObject({ up: true, failures: 0, status: 200 });
    expect(isKnownDown(undefined, 0)).toBe(false);
  });

  it('checks the model list each API documents, with its key, and only hosts that have one', () => {
    const anthropic = persona({ id: 'a', name: 'A', hosts: [{ provider: 'anthropic', model: 'm', apiKeyEnv: 'KEY_A' }] }).hosts[0]!;
    expect(probeRequest(anthropic, { KEY_A: 'sk-a' })).toEqual({ url: 'https://api.anthropic.com/v1/models?limit=1', headers: { 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-a' } });
    expect(probeRequest(anthropic, {})).toBeUndefined();
    const router = persona({ id: 'b', name: 'B', hosts: [{ provider: 'openai', model: 'm', baseUrl: 'https://openrouter.ai/api/v1/', apiKeyEnv: 'KEY_O' }] }).hosts[0]!;
    expect(probeRequest(router, { KEY_O: 'k' })).toEqual({ url: 'https://openrouter.ai/api/v1/models', headers: { authorization: 'Bearer k' } });
    const local = persona({ id: 'c', name: 'C', hosts: [{ provider: 'completions', model: 'm', baseUrl: 'http://127.0.0.1:11434/v1', apiKeyEnv: 'none' }] }).hosts[0]!;
    expect(probeRequest(local, {})).toEqual({ url: 'http://127.0.0.1:11434/v1/models', headers: {} });
    // One record per endpoint and key: two personas on one API share it; the key's value is never in it.
    expect(hostId(anthropic)).toBe(hostId({ ...anthropic, model: 'other' }));
    expect(hostId(anthropic)).not.toBe(hostId(router));
  });
});

describe('admin pages and metric labels', () => {
  const token = 'a-long-enough-admin-token';
  it('takes the token as a bearer token or a Basic password, nothing else', () => {
    expect(authorized(`Bearer ${token}`, token)).toBe(true);
    expect(authorized(`Basic ${Buffer.from(`admin:${token}`).toString('base64')}`, token)).toBe(true);
    expect(authorized(`Basic ${Buffer.from(`${token}:x`).toString('base64')}`, token)).toBe(false);
    expect(authorized(`Bearer ${token}x`, token)).toBe(false);
    expect(authorized('Bearer ', token)).toBe(false);
    expect(authorized(undefined, token)).toBe(false);
  });

  it('keeps route labels free of ids', () => {
    expect(routeLabel('/channels/:id/messages')).toBe('/channels/:id/messages');
    expect(routeLabel('/channels/42/messages/7')).toBe('/channels/:id/messages/:id');
  });

  it('counts a refusal by class and the fallback that answered, with its tokens', async () => {
    const registry = createRegistry('worker', { processMetrics: false });
    const metrics = workerMetrics(registry);
    const two = persona({ id: 'p', name: 'P', hosts: [{ provider: 'anthropic', model: 'a', apiKeyEnv: 'none', label: 'first' }, { provider: 'openai', model: 'b', apiKeyEnv: 'none', label: 'second' }] });
    const prompt = buildContext(two, [], msg('u', 'P?'), { maxMessages: 5, maxTokens: 1000 }).prompt;
    const clients: HostClient[] = [
      { complete: async () => Promise.reject(Object.assign(new Error('model: a'), { status: 404 })) },
      { complete: async () => ({ text: 'b', stopReason: 'stop', usage: { inputTokens: 7, outputTokens: 3, cacheReadTokens: 4 }, model: 'b' }) },
    ];
    await askPersona(two, wholePrompt(prompt), (h) => clients[two.hosts.indexOf(h)], undefined, { observe: (e) => metrics.observeHost(e) });
    const text = await registry.metrics();
    expect(text).toContain('chorus_host_errors_total{host="first",class="model-gone",process="worker"} 1');
    expect(text).toContain('chorus_fallbacks_total{persona="p",host="second",process="worker"} 1');
    expect(text).toContain('chorus_tokens_total{persona="p",kind="input",process="worker"} 7');
    expect(text).toContain('chorus_tokens_total{persona="p",kind="cache_read",process="worker"} 4');
  });

  it("counts persona posts the bot made, by why (Discord's shared 429s on them included)", async () => {
    const registry = createRegistry('worker', { processMetrics: false });
    const metrics = workerMetrics(registry);
    metrics.postedByBot('held');
    metrics.postedByBot('held');
    metrics.postedByBot('refused');
    const text = await registry.metrics();
    expect(text).toContain('chorus_persona_posts_by_bot_total{reason="held",process="worker"} 2');
    expect(text).toContain('chorus_persona_posts_by_bot_total{reason="refused",process="worker"} 1');
  });

  it('puts host failures in a few classes', () => {
    const at = (status: number | undefined, reason = '') => failureClass({ status, reason });
    expect([at(429), at(529), at(503), at(500), at(401), at(404), at(400), at(undefined, 'Request timed out.'), at(undefined, 'ECONNREFUSED')]).toEqual([
      'rate-limited', 'overloaded', 'overloaded', 'server-error', 'auth', 'model-gone', 'refused', 'timeout', 'network',
    ]);
  });
});

import { REST } from '@discordjs/rest';
import { Routes } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../local-discord/ratelimit.ts';
import { PER_WEBHOOK } from '../../local-discord/routing.ts';
import { count429, maxPerSecond, startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn, RestCall } from '../../local-discord/server.ts';

describe('Discord stand-in rate limits (enforced)', () => {
  let standIn: DiscordStandIn;
  let rest: REST;
  let hook: { id: string; token: string };
  const auth = () => ({ Authorization: `Bot ${standIn.token}`, 'Content-Type': 'application/json' });
  const onHook = (c: RestCall) => c.path.includes(`/webhooks/${hook.id}/`);

  beforeEach(async () => {
    standIn = await startDiscordStandIn({ enforceRateLimits: true });
    rest = new REST({ api: standIn.restUrl, version: '10' }).setToken(standIn.token);
    hook = (await rest.post(Routes.channelWebhooks(standIn.channelId), { body: { name: 'rl' } })) as { id: string; token: string };
  });
  afterEach(async () => {
    await standIn.close();
  });

  it('@discordjs/rest gets 8 webhook executions through, never more than 5 in any 2 s', async () => {
    for (let i = 0; i < 8; i++) {
      await rest.post(Routes.webhook(hook.id, hook.token), { body: { content: `n${i}` }, auth: false });
    }
    expect(standIn.messages().filter((m) => m.webhook_id === hook.id)).toHaveLength(8);
    expect(maxPerSecond(standIn.restCalls, onHook, 2_000)).toBeLessThanOrEqual(5);
    expect(count429(standIn.restCalls, onHook)).toBe(0); // it waited on the headers instead
    expect(standIn.restCalls.filter(onHook).every((c) => !c.authorized)).toBe(true);
  });

  it('execute, edit, get and delete of webhook messages share the webhook budget; headers are exact', async () => {
    const base = `${standIn.restUrl}/v10/webhooks/${hook.id}/${hook.token}`;
    const json = { 'Content-Type': 'application/json' };
    const first = await fetch(`${base}?wait=true`, { method: 'POST', headers: json, body: JSON.stringify({ content: 'a' }) });
    expect(first.headers.get('x-ratelimit-limit')).toBe('5');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(Number(first.headers.get('x-ratelimit-reset-after'))).toBeCloseTo(2, 1);
    const { id } = (await first.json()) as { id: string };
    const seen = [
      await fetch(`${base}/messages/${id}`, { method: 'PATCH', headers: json, body: JSON.stringify({ content: 'b' }) }),
      await fetch(`${base}/messages/${id}`),
      await fetch(base),
      await fetch(`${base}/messages/${id}`, { method: 'DELETE' }),
    ];
    expect(seen.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['3', '2', '1', '0']);
    expect(new Set([first, ...seen].map((r) => r.headers.get('x-ratelimit-bucket'))).size).toBe(1);
    const limited = await fetch(`${base}?wait=true`, { method: 'POST', headers: json, body: JSON.stringify({ content: 'c' }) });
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { message: string; retry_after: number; global: boolean };
    expect(body).toMatchObject({ message: 'You are being rate limited.', global: false });
    expect(body.retry_after).toBeGreaterThan(1.5);
    expect(body.retry_after).toBeLessThanOrEqual(2);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(limited.headers.get('x-ratelimit-global')).toBeNull();
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('channel messages: 5 per 5 s per channel; another channel has its own budget', async () => {
    const post = (chan: string) => fetch(`${standIn.restUrl}/v10/channels/${chan}/messages`, {
      method: 'POST', headers: auth(), body: JSON.stringify({ content: 'x' }),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(standIn.channelId)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect((await post(standIn.addChannel())).status).toBe(200);
  });

  it('the global limit: 50 bot requests per second, 429 global; unauthenticated webhook calls do not count', async () => {
    const burst = await Promise.all(
      Array.from({ length: 60 }, () => fetch(`${standIn.restUrl}/v10/users/@me`, { headers: auth() })),
    );
    const limited = burst.filter((r) => r.status === 429);
    // The webhook creation in beforeEach is one of the 50 in this second (unless a second passed).
    expect(limited.length).toBeGreaterThanOrEqual(10);
    const r = limited[0];
    expect(r?.headers.get('x-ratelimit-global')).toBe('true');
    expect(r?.headers.get('x-ratelimit-scope')).toBe('global');
    expect(Number(r?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await r?.json()).toMatchObject({ message: 'You are being rate limited.', global: true });
    expect(maxPerSecond(standIn.restCalls, (c) => c.authorized && c.status !== 429)).toBeLessThanOrEqual(50);
    // Webhook-token calls without the header still pass: they are not the bot's.
    const hookCall = await fetch(`${standIn.restUrl}/v10/webhooks/${hook.id}/${hook.token}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: 'still fine' }),
    });
    expect(hookCall.status).toBe(204);
    expect(count429(standIn.restCalls, (c) => c.authorized)).toBe(limited.length);
  });

  it('@discordjs/rest keeps the bot within 50 requests in every second', async () => {
    await Promise.all(Array.from({ length: 70 }, () => rest.get(Routes.user('@me'))));
    expect(maxPerSecond(standIn.restCalls, (c) => c.authorized)).toBeLessThanOrEqual(50);
    expect(count429(standIn.restCalls)).toBe(0);
  });
});

describe('maxPerSecond', () => {
  it('counts the busiest sliding window', () => {
    const at = (t: number) => ({ at: t, status: 200 });
    expect(maxPerSecond([at(0), at(999), at(1000), at(1500), at(1999)])).toBe(3);
    expect(maxPerSecond([at(0), at(500), at(999), at(1000)])).toBe(3);
    expect(maxPerSecond([at(0), at(10), at(5000)], undefined, 2000)).toBe(2);
    expect(maxPerSecond([])).toBe(0);
    expect(count429([at(1), { at: 2, status: 429 }])).toBe(1);
  });
});

describe("a channel's webhook posts over a minute (simulated clock)", () => {
  it('allows 30 per 60 s into a channel, whichever of its webhooks sends them; the 31st is a shared-scope 429 no header warned of', () => {
    const limiter = createRateLimiter(true);
    const post = (webhookId: string, channelId: string, t: number) => limiter.route('webhooks/:id/:token', webhookId, PER_WEBHOOK, t, channelId);
    let t = 1_000_000;
    // Two webhooks of one channel, each paced within its own 5 per 2 s.
    for (let i = 0; i < 30; i++, t += 200) {
      const d = post(i % 2 ? '1' : '2', 'c1', t);
      expect(d.limited).toBeUndefined();
      expect(d.headers['X-RateLimit-Limit']).toBe('5'); // the webhook's bucket, never the channel's
    }
    const over = post('3', 'c1', t); // a third, fresh webhook of the same channel
    expect(over.limited?.global).toBe(false);
    expect(over.headers['X-RateLimit-Scope']).toBe('shared');
    expect(over.limited?.retryAfter).toBeCloseTo(60 - 6, 0);
    expect(post('4', 'c2', t).limited).toBeUndefined(); // another channel
    expect(limiter.route('webhooks/:id/:token', '5', PER_WEBHOOK, t).limited).toBeUndefined(); // an edit (no channel given): the webhook's budget only
    expect(post('1', 'c1', 1_000_000 + 60_000).limited).toBeUndefined(); // the first has left the window
  });
});

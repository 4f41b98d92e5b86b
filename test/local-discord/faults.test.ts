import { DiscordAPIError, REST } from '@discordjs/rest';
import { Routes } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDiscordStandIn } from '../../local-discord/server.ts';
import type { DiscordStandIn, RestCall } from '../../local-discord/server.ts';

describe('Discord stand-in: REST faults on demand', () => {
  let standIn: DiscordStandIn;
  let rest: REST;
  const isPost = (c: { method: string; path: string }) => c.method === 'POST' && c.path.endsWith(`/channels/${standIn.channelId}/messages`);
  const post = (content: string) => fetch(`${standIn.restUrl}/v10/channels/${standIn.channelId}/messages`, {
    method: 'POST', headers: { Authorization: `Bot ${standIn.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ content }),
  });
  const posted = () => standIn.messages(standIn.channelId).map((m) => m.content);

  beforeEach(async () => {
    standIn = await startDiscordStandIn();
    rest = new REST({ api: standIn.restUrl, version: '10', retries: 1 }).setToken(standIn.token);
  });
  afterEach(async () => {
    await standIn.close();
  });

  it('answers the next matching request with the status and Discord\'s error body, without doing the work', async () => {
    const fired = standIn.failNext(isPost, { status: 403 });
    const err = await rest.post(Routes.channelMessages(standIn.channelId), { body: { content: 'refused' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscordAPIError);
    expect(err).toMatchObject({ status: 403, code: 50013, message: 'Missing Permissions' });
    expect(await fired).toMatchObject({ method: 'POST', status: 403, fault: 'status' });
    expect(posted()).toEqual([]);
    // Only the next one: the fault is spent.
    await rest.post(Routes.channelMessages(standIn.channelId), { body: { content: 'fine' } });
    expect(posted()).toEqual(['fine']);

    const errors = { content: { _errors: [{ code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }] } };
    void standIn.failNext(isPost, { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors } });
    const bad = await post('x');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ message: 'Invalid Form Body', code: 50035, errors });
    for (const [status, body] of [[401, { message: '401: Unauthorized', code: 0 }], [500, { message: '500: Internal Server Error', code: 0 }]] as const) {
      void standIn.failNext(() => true, { status });
      const r = await fetch(`${standIn.restUrl}/v10/users/@me`, { headers: { Authorization: `Bot ${standIn.token}` } });
      expect([r.status, await r.json()]).toEqual([status, body]);
    }
    // A 404 names the unknown thing, as Discord's does.
    void standIn.failNext((c) => c.method === 'GET', { status: 404 });
    expect(await (await fetch(`${standIn.restUrl}/v10/channels/${standIn.channelId}`, { headers: { Authorization: `Bot ${standIn.token}` } })).json()).toEqual({ message: 'Unknown Channel', code: 10003 });
  });

  it('accept: true carries the request out (created and dispatched) and then answers the fault: a retrying client posts twice', async () => {
    const created = standIn.nextMessage((m) => m.content === 'twice');
    void standIn.failNext(isPost, { status: 500, accept: true });
    // @discordjs/rest retries a 500, so the lost answer becomes a duplicate post, as with Discord.
    await rest.post(Routes.channelMessages(standIn.channelId), { body: { content: 'twice' } });
    expect((await created).content).toBe('twice');
    expect(posted()).toEqual(['twice', 'twice']);
    expect(standIn.restCalls.filter((c) => isPost(c)).map((c) => c.status)).toEqual([500, 200]);
  });

  it('drop: the connection closes unanswered; with accept the message exists anyway', async () => {
    const fired = standIn.failNext(isPost, { drop: true });
    await expect(post('lost')).rejects.toThrow();
    expect(await fired).toMatchObject({ fault: 'drop', status: 0 });
    expect(posted()).toEqual([]);

    void standIn.failNext(isPost, { drop: true, accept: true });
    await expect(post('taken')).rejects.toThrow();
    expect(posted()).toEqual(['taken']);
  });

  it('beforeRespond still sees every call, faulted ones included', async () => {
    const seen: RestCall[] = [];
    standIn.beforeRespond = (c) => void seen.push(c);
    void standIn.failNext(isPost, { status: 403 });
    await post('a');
    await post('b');
    expect(seen.map((c) => [c.status, c.fault])).toEqual([[403, 'status'], [200, undefined]]);
  });
});

describe('Discord stand-in: invalid requests as Discord counts them', () => {
  it('counts 401, 403 and 429 responses, except 429s with X-RateLimit-Scope: shared', async () => {
    const standIn = await startDiscordStandIn({ enforceRateLimits: true });
    try {
      const auth = { Authorization: `Bot ${standIn.token}`, 'Content-Type': 'application/json' };
      const me = (headers: Record<string, string>) => fetch(`${standIn.restUrl}/v10/users/@me`, { headers });
      expect((await me({ Authorization: 'Bot wrong' })).status).toBe(401);
      expect((await fetch(`${standIn.restUrl}/v10/channels/1`, { headers: auth })).status).toBe(404); // not counted
      standIn.denyPermission(standIn.channelId, 'SendMessages');
      const send = () => fetch(`${standIn.restUrl}/v10/channels/${standIn.channelId}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ content: 'x' }) });
      expect((await send()).status).toBe(403);
      expect(standIn.invalidRequests()).toBe(2);
      // The channel's 5 per 5 s: the 6th request is a user-scope 429 (the 403s count against the budget too).
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await send()).status);
      expect(statuses.at(-1)).toBe(429);
      const real429 = statuses.filter((s) => s === 429).length;
      expect(standIn.invalidRequests()).toBe(2 + statuses.length);
      void standIn.failNext(() => true, { status: 429, headers: { 'X-RateLimit-Scope': 'shared' } });
      const shared = await me(auth);
      expect([shared.status, shared.headers.get('x-ratelimit-scope')]).toEqual([429, 'shared']);
      void standIn.failNext(() => true, { status: 429 });
      expect((await me(auth)).headers.get('x-ratelimit-scope')).toBe('user');
      expect(standIn.invalidRequests()).toBe(2 + statuses.length + 1);
      expect(real429).toBeGreaterThan(0);
    } finally {
      await standIn.close();
    }
  });
});

// The workers' edge to Discord (core/discord.ts) against the Discord stand-in: finding a post whose
// answer was lost, however busy the channel became before the retry looked; and webhook pools that
// every process keeps in memory, yet all use as soon as one process grows them; and a burst from
// several processes, spread over a pool's webhooks when the shared gate grants each post its slot.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Routes } from 'discord-api-types/v10';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBotIdentity } from '../../core/application.ts';
import type { ChangeFeed, ReadThroughCache } from '../../core/changes.ts';
import { BOT_POSTED, createDiscordEdge, TYPING_RENEW_MS, TYPING_SKIPPED_MS, type DiscordEdge, type OverflowReason } from '../../core/discord.ts';
import { createRest, discordAway, discordUnanswered } from '../../core/rest.ts';
import { BOT_REQUESTS_PER_SECOND, createRestGate, SPARE_SHARE } from '../../core/rest-gate.ts';
import { deletePrefix } from '../../playground/redis.ts';
import { startDiscordStandIn, type DiscordStandIn } from '../../local-discord/server.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `edge-${process.pid}-${Date.now().toString(36)}`;
let discord: DiscordStandIn;
let edge: DiscordEdge;
const warnings: string[] = [];

/**
 * One chorus process's edge under `edgePrefix`: its own REST client and, when `gated`, its own
 * handle on the shared Redis gate, told what the gate counts (as every worker's is); several share
 * Redis as processes do.
 */
function processEdge(edgePrefix: string, o: { standIn?: DiscordStandIn; poolSize?: number; gated?: boolean; channelWindowMs?: number; feed?: ChangeFeed; onWarning?: (m: string) => void; overflowAfterMs?: number; onOverflow?: (reason: OverflowReason) => void } = {}): DiscordEdge {
  const standIn = o.standIn ?? discord;
  const gate = o.gated ? createRestGate(redis, edgePrefix, o.channelWindowMs ? { channelWindowMs: o.channelWindowMs } : {}) : undefined;
  const told = {
    onWebhookWait: (id: string, ms: number) => processEdge.noteWebhookWait(id, ms),
    onWebhookCalls: (id: string, n: number) => processEdge.noteWebhookCalls(id, n),
    onChannelCalls: (id: string, n: number) => processEdge.noteChannelCalls(id, n),
  };
  const rest = createRest(standIn.restUrl, standIn.token, gate ? { gate, ...told, busyChannelPosts: o.overflowAfterMs === undefined ? 'wait' : 'throw' } : {});
  const processEdge: DiscordEdge = createDiscordEdge({
    rest,
    redis,
    prefix: edgePrefix,
    identity: createBotIdentity(rest, redis, edgePrefix, standIn.token),
    poolSize: o.poolSize ?? 3,
    ...(gate ? { gate } : {}),
    ...(o.feed ? { feed: o.feed } : {}),
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
    ...(o.overflowAfterMs === undefined ? {} : { overflowAfterMs: o.overflowAfterMs }),
    ...(o.onOverflow ? { onOverflow: o.onOverflow } : {}),
  });
  return processEdge;
}

beforeAll(async () => {
  discord = await startDiscordStandIn();
  edge = processEdge(prefix, { onWarning: (m) => warnings.push(m) });
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
  await discord.close();
});

const speaker = { personaId: 'opus', name: 'Opus' };
const listCalls = (channelId: string) => discord.restCalls.filter((c) => c.method === 'GET' && c.path.endsWith(`/channels/${channelId}/messages`)).length;

describe('looking for a post whose answer was lost', () => {
  it('finds it behind more than a page of later messages, reading back only as far as the trigger', async () => {
    const channelId = discord.addChannel({ name: 'busy-after' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, a question' });
    const posted = await edge.postAs({ channelId }, speaker, 'The answer whose confirmation was lost.');
    for (let i = 0; i < 250; i++) await discord.userSays({ channelId, content: `chatter ${i}` });
    const before = listCalls(channelId);
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'The answer whose confirmation was lost.')).toEqual(posted);
    expect(listCalls(channelId) - before).toBe(3); // 250 later messages, then the post: the third page
  });

  it('says no after reading back to the trigger, in one request when few messages followed', async () => {
    const channelId = discord.addChannel({ name: 'never-posted' });
    await discord.userSays({ channelId, content: 'before the trigger' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, another question' });
    await discord.userSays({ channelId, content: 'Opus, not the answer' });
    const before = listCalls(channelId);
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'An answer never sent.')).toBeUndefined();
    expect(listCalls(channelId) - before).toBe(1);
  });

  it('takes only our own post as the persona: not a person saying the same words', async () => {
    const channelId = discord.addChannel({ name: 'same-words' });
    const trigger = await discord.userSays({ channelId, content: 'Opus, say hi' });
    await discord.userSays({ channelId, content: 'hi' });
    expect(await edge.findOwnPost({ channelId }, trigger.id, 'Opus', 'hi')).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

/**
 * What core/changes.ts promises, without its pub/sub timing: a change any edge announces drops every
 * edge's copies at once, so the test need not wait for a message between connections.
 */
function sharedFeed(): ChangeFeed {
  const drops = new Map<string, Set<() => void>>();
  return {
    async changed(topic) {
      for (const drop of drops.get(topic) ?? []) drop();
    },
    cache<V>(topic: string): ReadThroughCache<V> {
      const values = new Map<string, V>();
      const drop = () => values.clear();
      if (!drops.has(topic)) drops.set(topic, new Set());
      drops.get(topic)!.add(drop);
      return {
        async get(key, read) {
          if (!values.has(key)) values.set(key, await read());
          return values.get(key)!;
        },
        drop,
        size: () => values.size,
      };
    },
    async close() {},
  };
}

describe('webhook pools kept in memory by several processes', () => {
  it('a pool one process grows is used by the others at once, not only by the one that grew it', async () => {
    const feed = sharedFeed();
    const [a, b] = [processEdge(`${prefix}-pools`, { feed }), processEdge(`${prefix}-pools`, { feed })];
    const channelId = discord.addChannel({ name: 'shared-pool' });
    const first = await a.postAs({ channelId }, speaker, 'one');
    await b.postAs({ channelId }, speaker, 'two'); // b now keeps the pool of one in memory
    a.noteWebhookWait(first.webhookId, 1000); // a finds the webhook crowded: its next post grows the pool
    const grown = await a.postAs({ channelId }, speaker, 'three');
    expect(grown.webhookId).not.toBe(first.webhookId);
    // Two personas whose places in a pool of two differ ('p0' and 'p1'): b spreads them over both.
    const used = new Set<string>();
    for (const personaId of ['p0', 'p1']) used.add((await b.postAs({ channelId }, { personaId, name: personaId }, `from ${personaId}`)).webhookId);
    expect(used).toEqual(new Set([first.webhookId, grown.webhookId]));
  });

  it('adopts a webhook Discord made when the answer to its creation was lost, rather than make another', async () => {
    const edge = processEdge(`${prefix}-lost-create`, { feed: sharedFeed() });
    const channelId = discord.addChannel({ name: 'lost-create' });
    const creates = () => discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/webhooks`)).length;
    const first = await edge.postAs({ channelId }, speaker, 'one');
    // Discord makes the second webhook, but its answer never comes back.
    const lost = discord.failNext((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/webhooks`), { drop: true, accept: true });
    edge.noteWebhookWait(first.webhookId, 1000);
    expect((await edge.postAs({ channelId }, speaker, 'two')).webhookId).toBe(first.webhookId); // the pool could not grow
    await lost;
    // Growing again finds it: two webhooks in the channel, both used, none made a third time.
    await vi.waitFor(async () => {
      edge.noteWebhookWait(first.webhookId, 1000);
      expect((await edge.postAs({ channelId }, speaker, 'three')).webhookId).not.toBe(first.webhookId);
    });
    expect(creates()).toBe(2);
  });

  it("asks no more for a webhook in a channel at Discord's 15 once told so, while its pool has some", async () => {
    const edge = processEdge(`${prefix}-full`, { feed: sharedFeed() });
    const channelId = discord.addChannel({ name: 'full' });
    const first = await edge.postAs({ channelId }, speaker, 'one');
    // Other integrations fill the channel's 15.
    const other = createRest(discord.restUrl, discord.token);
    for (let i = 0; i < 14; i++) await other.post(Routes.channelWebhooks(channelId), { body: { name: `other-${i}` } });
    const asked = () => discord.restCalls.filter((c) => c.path.endsWith(`/channels/${channelId}/webhooks`)).length;
    edge.noteWebhookWait(first.webhookId, 1000);
    await edge.postAs({ channelId }, speaker, 'two'); // crowded: the pool tries to grow, and is told the channel is full
    await vi.waitFor(() => expect(discord.restCalls.some((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/webhooks`) && c.status === 400)).toBe(true));
    const before = asked();
    for (let i = 0; i < 3; i++) {
      edge.noteWebhookWait(first.webhookId, 1000);
      expect((await edge.postAs({ channelId }, speaker, `more ${i}`)).webhookId).toBe(first.webhookId);
    }
    expect(asked()).toBe(before);
  });

  it("sends posts past a webhook that is near Discord's 30 requests a minute, growing the pool", async () => {
    const edge = processEdge(`${prefix}-minute`, { feed: sharedFeed() });
    const channelId = discord.addChannel({ name: 'busy-minute' });
    const first = await edge.postAs({ channelId }, speaker, 'one');
    expect((await edge.postAs({ channelId }, speaker, 'two')).webhookId).toBe(first.webhookId); // a quiet channel keeps to one
    edge.noteWebhookCalls(first.webhookId, 24); // the shared gate's count: 24 requests in the last minute
    const next = await edge.postAs({ channelId }, speaker, 'three');
    expect(next.webhookId).not.toBe(first.webhookId);
  });
});

describe('a burst of posts from several processes, under Discord\'s limits', () => {
  it('spreads over the webhooks as the pool grows, each post choosing when the shared gate grants it a slot', async () => {
    const limited = await startDiscordStandIn({ enforceRateLimits: true });
    try {
      const burstPrefix = `${prefix}-burst`;
      const feed = sharedFeed();
      // Three processes: each its own REST client and gate, sharing Redis.
      const edges = [0, 1, 2].map(() => processEdge(burstPrefix, { standIn: limited, gated: true, feed }));
      const channelId = limited.addChannel({ name: 'burst' });
      const posted = await Promise.all(Array.from({ length: 30 }, (_, i) => edges[i % 3]!.postAs({ channelId }, { personaId: `p${i % 4}`, name: `P${i % 4}` }, `reply ${i}`)));
      const perWebhook = new Map<string, number>();
      for (const p of posted) perWebhook.set(p.webhookId, (perWebhook.get(p.webhookId) ?? 0) + 1);
      expect(perWebhook.size).toBe(3);
      // Chosen before waiting, most of the burst queued on the first webhook (25 of 30 in one run),
      // each waiting for that webhook's 5 in 2 s while the others had room.
      expect(Math.max(...perWebhook.values())).toBeLessThanOrEqual(15);
      expect(limited.restCalls.filter((c) => c.status === 429)).toEqual([]);
      expect(limited.restCalls.filter((c) => c.method === 'POST' && c.path.startsWith('/api/v10/webhooks/')).length).toBe(30);
      // Each post went out on the slot the gate granted with its webhook, not on a second one.
      const counted = await Promise.all([...perWebhook.keys()].map(async (id) => {
        const [key] = await redis.keys(`${burstPrefix}:rest-bucket:webhook:${id}:*:last-minute`);
        return key ? redis.zcard(key) : 0;
      }));
      expect(counted.reduce((a, b) => a + b, 0)).toBe(30);
    } finally {
      await limited.close();
      await deletePrefix(redis, `${prefix}-burst`);
    }
  });
});

describe('a post and its mark in the ledger', () => {
  it('is not sent when the mark failed, and frees the slot it was granted', async () => {
    const markPrefix = `${prefix}-mark`;
    try {
      const marked = processEdge(markPrefix, { gated: true });
      const channelId = discord.addChannel({ name: 'mark-failed' });
      await marked.postAs({ channelId }, speaker, 'a first post makes the webhook');
      const posts = () => discord.restCalls.filter((c) => c.method === 'POST' && c.path.startsWith('/api/v10/webhooks/')).length;
      const before = posts();

      const refused = Promise.reject(new Error('Redis refused the mark'));
      refused.catch(() => undefined); // as postPiece does: the edge awaits it after taking its slot
      await expect(marked.postAs({ channelId }, speaker, 'never sent', refused)).rejects.toThrow('Redis refused the mark');
      expect(posts()).toBe(before);
      // The slot was granted (counted in the webhook's minute) and given back (nothing in flight).
      const count = async (suffix: string) => {
        const keys = await redis.keys(`${markPrefix}:rest-bucket:webhook:*:${suffix}`);
        return (await Promise.all(keys.map((k) => redis.zcard(k)))).reduce((a, b) => a + b, 0);
      };
      expect(await count('last-minute')).toBe(2);
      expect(await count('in-flight')).toBe(0);

      // With the mark in place, the post goes.
      await marked.postAs({ channelId }, speaker, 'sent once marked', Promise.resolve());
      expect(posts()).toBe(before + 1);
    } finally {
      await deletePrefix(redis, `${prefix}-mark`);
    }
  });
});

describe('the typing indicator', () => {
  it('is sent once for a channel while it shows, whichever process asks; each asker learns when to renew it', async () => {
    const channelId = discord.addChannel({ name: 'typing-shared' });
    const other = discord.addChannel({ name: 'typing-other' });
    const secondProcess = processEdge(prefix);
    const typed = (id: string) => discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${id}/typing`)).length;
    expect(await edge.typing(channelId)).toBe(TYPING_RENEW_MS);
    const renewIn = await secondProcess.typing(channelId);
    expect(renewIn).toBeGreaterThan(0);
    expect(renewIn).toBeLessThanOrEqual(TYPING_RENEW_MS);
    expect(await edge.typing(channelId)).toBeLessThanOrEqual(renewIn);
    expect(typed(channelId)).toBe(1);
    // Another channel has its own indicator.
    expect(await secondProcess.typing(other)).toBe(TYPING_RENEW_MS);
    expect(typed(other)).toBe(1);
    // Once it lapses, the next asker renews it.
    await redis.del(`${prefix}:typing:${channelId}`);
    expect(await secondProcess.typing(channelId)).toBe(TYPING_RENEW_MS);
    expect(typed(channelId)).toBe(2);
  });

  it("is left out, not queued, while requests someone waits for use the global limit's spare room; and tried again soon", async () => {
    const edgePrefix = `${prefix}-typing-busy`;
    const gated = processEdge(edgePrefix, { gated: true });
    const channelId = discord.addChannel({ name: 'typing-busy' });
    const typed = () => discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/typing`)).length;
    // Another process's requests hold half the bot's 50 a second (webhook creations in a burst, say).
    const busy = await Promise.all(Array.from({ length: BOT_REQUESTS_PER_SECOND * SPARE_SHARE.bot }, () => createRestGate(redis, edgePrefix).acquire('bot')));
    expect(await gated.typing(channelId)).toBe(TYPING_SKIPPED_MS);
    expect(typed()).toBe(0);
    // The channel's claim lapses as soon, so the next asker (any process) tries again then.
    expect(await redis.pttl(`${edgePrefix}:typing:${channelId}`)).toBeLessThanOrEqual(TYPING_SKIPPED_MS);
    for (const slot of busy) slot.release();
    // With room to spare it is sent.
    const quiet = processEdge(`${prefix}-typing-quiet`, { gated: true });
    expect(await quiet.typing(channelId)).toBe(TYPING_RENEW_MS);
    expect(typed()).toBe(1);
  });
});

describe('streaming in a busy channel', () => {
  it("has room while the channel's webhooks posted fewer than a third of Discord's 30 a minute; then answers are posted whole", async () => {
    const busyPrefix = `${prefix}-busy`;
    try {
      const busy = processEdge(busyPrefix, { gated: true });
      const channelId = discord.addChannel({ name: 'busy-streams' });
      const quiet = discord.addChannel({ name: 'quiet-streams' });
      expect(await busy.roomToStream({ channelId })).toBe(true);
      let last = await busy.postAs({ channelId }, speaker, 'post 0');
      for (let i = 1; i < 9; i++) last = await busy.postAs({ channelId }, { personaId: `p${i}`, name: `P${i}` }, `post ${i}`);
      await busy.editAs({ channelId }, last, 'post 8, edited'); // an edit is not a post
      expect(await busy.roomToStream({ channelId })).toBe(true); // 9 posts, over the pool's webhooks
      await busy.postAs({ channelId }, speaker, 'post 9');
      expect(await busy.roomToStream({ channelId })).toBe(false);
      expect(await busy.roomToStream({ channelId: quiet })).toBe(true);
    } finally {
      await deletePrefix(redis, busyPrefix);
    }
  });

  it("has none while posts take most of Discord's limit for webhooks, anywhere; an edit on the way is then left out, not queued", async () => {
    const edgePrefix = `${prefix}-webhooks-busy`;
    const gated = processEdge(edgePrefix, { gated: true });
    const channelId = discord.addChannel({ name: 'streams-in-a-burst' });
    const preview = await gated.postAs({ channelId }, speaker, 'The first words');
    expect(await gated.roomToStream({ channelId })).toBe(true);
    const edits = () => discord.restCalls.filter((c) => c.method === 'PATCH' && c.path.endsWith(`/messages/${preview.id}`)).length;
    // Posts elsewhere (other processes, other channels) hold the webhooks' limit past its spare share.
    const posts = await Promise.all(Array.from({ length: BOT_REQUESTS_PER_SECOND * SPARE_SHARE.webhook }, () => createRestGate(redis, edgePrefix).acquire('webhook')));
    expect(await gated.roomToStream({ channelId })).toBe(false);
    expect(await gated.editIfRoom({ channelId }, preview, 'The first words and more')).toBe(false);
    expect(edits()).toBe(0);
    // The final text waits its turn and goes.
    await gated.editAs({ channelId }, preview, 'The first words and the rest.');
    expect(edits()).toBe(1);
    for (const slot of posts) slot.release();
    expect(discord.messages(channelId).at(-1)?.content).toBe('The first words and the rest.');
  });
});

describe("Discord's hidden limit on a channel's webhook posts", () => {
  it('costs one 429 burst to learn, shared by the whole pool, and none afterwards; every post is delivered once', async () => {
    // 4 webhook posts per 2 s into a channel (Discord's is 30 a minute), whichever webhook sends them.
    const limited = await startDiscordStandIn({ enforceRateLimits: true, webhookChannelLimit: { limit: 4, windowMs: 2_000 } });
    const hiddenPrefix = `${prefix}-hidden`;
    try {
      const feed = sharedFeed();
      const edges = [0, 1].map(() => processEdge(hiddenPrefix, { standIn: limited, gated: true, channelWindowMs: 2_000, feed }));
      const channelId = limited.addChannel({ name: 'hidden-limit' });
      const posts = (from: number) => Promise.all(Array.from({ length: 10 }, (_, i) => edges[i % 2]!.postAs({ channelId }, { personaId: `p${i % 5}`, name: `P${i % 5}` }, `reply ${from + i}`)));
      const refusals = () => limited.restCalls.filter((c) => c.status === 429);
      await posts(0);
      const learning = refusals();
      expect(learning.length).toBeGreaterThan(0); // the limit was met…
      // …and learned at once for the channel: not a 429 per webhook of the pool, nor one per post past the limit.
      expect(learning.length).toBeLessThanOrEqual(3);
      await posts(10);
      expect(refusals()).toHaveLength(learning.length);
      const delivered = limited.messages(channelId).map((m) => m.content);
      expect(delivered.filter((c) => c.startsWith('reply '))).toHaveLength(20);
      expect(new Set(delivered).size).toBe(delivered.length);
      expect(limited.invalidRequests()).toBe(0); // shared 429s do not count toward Discord's ban
    } finally {
      await limited.close();
      await deletePrefix(redis, hiddenPrefix);
    }
  });
});

describe("a channel whose webhooks Discord holds: the bot posts for the personas", () => {
  // 4 webhook posts per 2 s into a channel (Discord's is 30 a minute), whichever webhook sends them.
  const hotChannel = async (test: (standIn: DiscordStandIn, edges: DiscordEdge[], channelId: string, warnings: string[], overflows: OverflowReason[]) => Promise<void>) => {
    const limited = await startDiscordStandIn({ enforceRateLimits: true, webhookChannelLimit: { limit: 4, windowMs: 2_000 } });
    const hotPrefix = `${prefix}-hot-${Math.random().toString(36).slice(2, 8)}`;
    const told: string[] = [];
    const overflows: OverflowReason[] = [];
    try {
      const feed = sharedFeed();
      const edges = [0, 1].map(() => processEdge(hotPrefix, { standIn: limited, gated: true, channelWindowMs: 2_000, feed, overflowAfterMs: 300, onWarning: (m) => told.push(m), onOverflow: (r) => overflows.push(r) }));
      await test(limited, edges, limited.addChannel({ name: 'hot' }), told, overflows);
    } finally {
      await limited.close();
      await deletePrefix(redis, hotPrefix);
    }
  };
  const say = (edges: DiscordEdge[], channelId: string, from: number, n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => edges[i % 2]!.postAs({ channelId }, { personaId: `p${i % 3}`, name: `P${i % 3}` }, `reply ${from + i}`)));

  it("posts what the channel's webhooks cannot take now as the bot, under the persona's name; every post once", async () => {
    await hotChannel(async (limited, edges, channelId, _, overflows) => {
      const posted = [...(await say(edges, channelId, 0, 10)), ...(await say(edges, channelId, 10, 10))];
      const messages = limited.messages(channelId);
      const byBot = messages.filter((m) => !m.webhook_id);
      const byWebhook = messages.filter((m) => m.webhook_id);
      // The webhooks took what Discord allows; the rest went out at once as the bot, not after the window.
      expect(byBot.length).toBeGreaterThan(0);
      expect(byWebhook.length).toBeGreaterThan(0);
      expect(byBot.length).toBe(posted.filter((p) => p.webhookId === BOT_POSTED).length);
      // Each told, with why: Discord refused it (the 429s), or the gate knew the channel held.
      expect(overflows).toHaveLength(byBot.length);
      expect(overflows.filter((r) => r === 'refused').length).toBe(limited.restCalls.filter((c) => c.status === 429).length);
      for (const m of byBot) expect(m.author.id).toBe(limited.botUser.id);
      // Each says who speaks, and every answer is there once, by the right persona.
      const said = new Map(messages.map((m) => [m.webhook_id ? m.content : m.content.split('\n')[1]!, m.webhook_id ? m.author.username : m.content.split('\n')[0]]));
      expect(messages).toHaveLength(20);
      for (let i = 0; i < 20; i++) {
        const who = `P${(i % 10) % 3}`;
        expect(said.get(`reply ${i}`)).toBe(byWebhook.some((m) => m.content === `reply ${i}`) ? who : `**${who}**`);
      }
      // At most one refusal per burst before the hold is known; shared 429s are not invalid requests.
      expect(limited.restCalls.filter((c) => c.status === 429).length).toBeLessThanOrEqual(3);
      expect(limited.invalidRequests()).toBe(0);
    });
  });

  it("finds a bot post whose answer was lost by the persona's words, and edits it keeping the name line", async () => {
    await hotChannel(async (limited, edges, channelId) => {
      const posted = await say(edges, channelId, 0, 12);
      const index = posted.findIndex((p) => p.webhookId === BOT_POSTED);
      expect(index).toBeGreaterThanOrEqual(0);
      const speaker = { personaId: `p${index % 3}`, name: `P${index % 3}` };
      const found = await edges[0]!.findOwnPost({ channelId }, '0', speaker.name, `reply ${index}`);
      expect(found).toEqual(posted[index]);
      expect(await edges[0]!.findOwnPost({ channelId }, '0', 'Someone else', `reply ${index}`)).toBeUndefined();
      await edges[1]!.editAs({ channelId }, found!, 'reply, amended', speaker);
      expect(limited.messages(channelId).find((m) => m.id === found!.id)?.content).toBe(`**${speaker.name}**\nreply, amended`);
    });
  });

  it("posts into a thread the same way: through the parent's webhooks, or by the bot in the thread itself", async () => {
    await hotChannel(async (limited, edges, channelId) => {
      const threadId = limited.addChannel({ name: 'hot-thread', parentId: channelId, thread: true });
      const posted = await Promise.all(Array.from({ length: 10 }, (_, i) => edges[i % 2]!.postAs({ channelId: threadId, parentId: channelId }, { personaId: 'p0', name: 'P0' }, `thread reply ${i}`)));
      const inThread = limited.messages(threadId);
      expect(inThread).toHaveLength(10);
      expect(limited.messages(channelId)).toHaveLength(0);
      const byBot = inThread.filter((m) => !m.webhook_id);
      expect(byBot.length).toBeGreaterThan(0);
      for (const m of byBot) expect(m.content).toMatch(/^\*\*P0\*\*\nthread reply \d$/);
      // A lost one is found in the thread, by its name line and words.
      const index = posted.findIndex((p) => p.webhookId === BOT_POSTED);
      expect(await edges[0]!.findOwnPost({ channelId: threadId, parentId: channelId }, '0', 'P0', `thread reply ${index}`)).toEqual(posted[index]);
      expect(limited.invalidRequests()).toBe(0);
    });
  });

  it('waits for the webhooks where the bot may not post, and says so once', async () => {
    await hotChannel(async (limited, edges, channelId, told) => {
      limited.denyPermission(channelId, 'SendMessages');
      await say(edges, channelId, 0, 10);
      const messages = limited.messages(channelId);
      expect(messages).toHaveLength(10);
      expect(messages.every((m) => m.webhook_id)).toBe(true);
      // One refused try per process, remembered.
      expect(limited.restCalls.filter((c) => c.status === 403)).toHaveLength(told.length);
      expect(told.length).toBeGreaterThan(0);
      expect(told.length).toBeLessThanOrEqual(2);
    });
  });
});

describe('a 429 with none of Discord\'s headers (a block in front of Discord)', () => {
  it('pauses the shared gate and backs off, instead of sending the request again at once', async () => {
    // A raw server: the blocked address gets 429 text/html with no header at all for 1.5 s.
    let firstAt = 0;
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      firstAt ||= Date.now();
      if (Date.now() - firstAt < 1_500) return void res.writeHead(429, { 'content-type': 'text/html' }).end('<html><body>Error 1015: You are being rate limited</body></html>');
      res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const gate = createRestGate(redis, `${prefix}-blocked`);
    const rest = createRest(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, 'Bot.blocked.token', { gate });
    try {
      expect(await rest.get('/channels/1/messages')).toEqual([]);
      // One request, then one a second later (paused 1 s), then one two seconds after that: the
      // block was over. (Sent again at once, as @discordjs/rest does with no Retry-After: ~75.)
      expect(requests).toBeLessThanOrEqual(4);
    } finally {
      server.close();
    }
  });
});

describe("a channel already holding Discord's most webhooks, none of them chorus's", () => {
  it("has the bot post for the personas, under their names, and asks Discord for no webhook again meanwhile", async () => {
    const channelId = discord.addChannel({ name: 'full-of-webhooks' });
    for (let i = 0; i < 15; i++) {
      const made = await fetch(`${discord.restUrl}/v10/channels/${channelId}/webhooks`, { method: 'POST', headers: { authorization: `Bot ${discord.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `other-app-${i}` }) });
      expect(made.status).toBe(200);
    }
    const overflows: OverflowReason[] = [];
    const fullPrefix = `${prefix}-full`;
    const here = processEdge(fullPrefix, { gated: true, onOverflow: (r) => overflows.push(r) });
    const webhookCalls = () => discord.restCalls.filter((c) => c.path.endsWith(`/channels/${channelId}/webhooks`)).length;
    const first = await here.postAs({ channelId }, speaker, 'hello from a full channel');
    expect(first.webhookId).toBe(BOT_POSTED);
    const spent = webhookCalls(); // the list, and the one creation Discord refused
    // Another process (its own memory, the same Redis) knows too.
    const second = await processEdge(fullPrefix, { gated: true, onOverflow: (r) => overflows.push(r) }).postAs({ channelId }, { personaId: 'gpt', name: 'GPT' }, 'and another');
    expect(second.webhookId).toBe(BOT_POSTED);
    expect(webhookCalls()).toBe(spent);
    expect(overflows).toEqual(['full', 'full']);
    const shown = discord.messages(channelId).map((m) => m.content);
    expect(shown).toEqual([expect.stringMatching(/^\*\*Opus\*\*\nhello from a full channel$/), expect.stringMatching(/^\*\*GPT\*\*\nand another$/)]);
    await deletePrefix(redis, fullPrefix);
  });
});

describe("an interaction's first answer", () => {
  it('is sent at once while the gate holds every other request (interaction endpoints are not bound to the global limit; the answer is due in 3 s)', async () => {
    const gatePrefix = `${prefix}-interaction`;
    const rest = createRest(discord.restUrl, discord.token, { gate: createRestGate(redis, gatePrefix) });
    // A minute's pause of both kinds, as a block would set.
    await redis.set(`${gatePrefix}:rest-gate:bot:pause`, 'blocked', 'PX', 60_000);
    await redis.set(`${gatePrefix}:rest-gate:webhook:pause`, 'blocked', 'PX', 60_000);
    const { id, token } = await discord.userRunsCommand({ name: 'persona' });
    await rest.post(Routes.interactionCallback(id, token), { body: { type: 4, data: { content: 'at once' } }, auth: false });
    expect(await redis.pttl(`${gatePrefix}:rest-gate:webhook:pause`)).toBeGreaterThan(50_000);
    expect(discord.restCalls.some((c) => c.path.includes(`/interactions/${id}/`) && c.status === 204)).toBe(true);
    await deletePrefix(redis, gatePrefix);
  });
});

describe('telling Discord away from a request at fault', () => {
  it('says Discord is away for a request with no answer or a 5xx, with or without the shared gate, and not for a 4xx or a failure of its own', async () => {
    const statuses = [502, 503, 404, 400];
    const server = createServer((req, res) => {
      const status = statuses.shift() ?? 500;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `${status}`, code: 0 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const gate = createRestGate(redis, `${prefix}-away`);
    const failure = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err);
    try {
      for (const opts of [{}, { gate }]) {
        const rest = createRest(`http://127.0.0.1:${port}/api`, 'token', { ...opts, timeoutMs: 2000 });
        const answers = [await failure(rest.get(Routes.channel('1'))), await failure(rest.get(Routes.channel('1')))];
        expect(answers.map(discordAway)).toEqual([true, true]); // 502, 503
        expect(answers.map(discordUnanswered)).toEqual([false, false]); // answered, if badly
        expect(discordAway(await failure(rest.get(Routes.channel('1'))))).toBe(false); // 404
        expect(discordAway(await failure(rest.get(Routes.channel('1'))))).toBe(false); // 400
        statuses.push(502, 503, 404, 400);
        // No answer at all: nothing listens there.
        const nowhere = createRest('http://127.0.0.1:1/api', 'token', opts);
        const refused = await failure(nowhere.get(Routes.channel('1')));
        expect(discordAway(refused)).toBe(true);
        expect(discordUnanswered(refused)).toBe(true);
        expect(discordAway(new Error('wrapped', { cause: refused }))).toBe(true);
      }
      expect(discordAway(new TypeError('fetch failed'))).toBe(false); // not from a Discord request
    } finally {
      server.close();
    }
  });
});

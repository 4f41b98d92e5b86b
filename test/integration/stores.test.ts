// The Redis-backed stores against the real local Redis.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHistoryStore } from '../../core/history.ts';
import type { ChannelMessage } from '../../core/messages.ts';
import { QueueEvents, Worker } from 'bullmq';
import { createChannelAccess } from '../../core/access.ts';
import { createReplyQueue, jobIds, REPLY_QUEUE, type ReplyJob } from '../../core/replies.ts';
import { BLOCK_FIRST_MS, createRestGate, pauseOf, SPARE_SHARE } from '../../core/rest-gate.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `stores-${process.pid}-${Date.now().toString(36)}`;
const events = new QueueEvents(REPLY_QUEUE, { connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, prefix });

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await events.close();
  await redis.quit();
});

let seq = 1_500_000_000_000_000_000n;
const message = (content: string, extra: Partial<ChannelMessage> = {}): ChannelMessage => {
  seq += 1n << 22n;
  return { id: String(seq), authorId: 'u', authorName: 'Alice', content, isBot: false, createdAt: '', ...extra };
};

describe('reply queue', () => {
  const replies = createReplyQueue(redis, prefix, { attempts: 3, backoffMs: 100 });
  const job = (trigger: ChannelMessage, personas: string[]): ReplyJob => ({
    v: 3,
    channelId: 'c1',
    settings: { roster: [], interjectionProbability: 0, chainDepth: 2, cooldownSeconds: 0, repliesPerMinute: 20, historyMessages: 40 },
    turns: personas.map((personaId) => ({ personaId, reason: 'named', depth: 1, trigger })),
    receivedAt: 0,
  });

  it('holds one job per message: routing the same message again adds nothing', async () => {
    const a = message('a');
    await replies.add(jobIds.message(a.id), job(a, ['opus', 'gpt']));
    await replies.add(jobIds.message(a.id), job(a, ['opus']));
    const waiting = await replies.queue.getJobs(['wait']);
    expect(waiting.map((j) => j.id)).toEqual([jobIds.message(a.id)]);
    expect(waiting[0]!.data.turns.map((t) => t.personaId)).toEqual(['opus', 'gpt']);
  });

  it("recognises a finished job's id too, so a late repeat is not answered again", async () => {
    await replies.queue.obliterate({ force: true });
    const b = message('b');
    await replies.add(jobIds.message(b.id), job(b, ['opus']));
    const worker = new Worker<ReplyJob>(REPLY_QUEUE, async () => 'done', { connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, prefix });
    const [first] = await replies.queue.getJobs(['wait']);
    await first!.waitUntilFinished(events);
    await replies.add(jobIds.message(b.id), job(b, ['opus']));
    expect(await replies.queue.getJobCounts('wait', 'completed')).toEqual({ wait: 0, completed: 1 });
    await worker.close();
  });
});

describe('channel access', () => {
  const access = createChannelAccess(redis, prefix);

  it('remembers a refused permission, says "first" once, and forgets it when the guild changes', async () => {
    expect(await access.refuse('ch1', 'g1', 'ManageWebhooks')).toBe(true);
    expect(await access.refuse('ch1', 'g1', 'ManageWebhooks')).toBe(false);
    expect([...(await access.missing('ch1'))]).toEqual(['ManageWebhooks']);
    // A thread of it lacks its webhooks too; not what was refused in the parent alone.
    await access.refuse('ch1', 'g1', 'SendMessages');
    expect([...(await access.missing('thread-of-ch1', 'ch1'))]).toEqual(['ManageWebhooks']);
    await access.forgetGuild('g1');
    expect((await access.missing('ch1')).size).toBe(0);
    expect(await access.refuse('ch1', 'g1', 'ManageWebhooks')).toBe(true);
  });
});

describe('rest gate', () => {
  it('lets no more than the limit through in any second, across processes sharing Redis', async () => {
    const other = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const gates = [createRestGate(redis, `${prefix}-gate`, { perSecond: 10 }), createRestGate(other, `${prefix}-gate`, { perSecond: 10 })];
    const sentAt: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const slot = await gates[i % 2]!.acquire('bot');
        sentAt.push(Date.now());
        await new Promise((r) => setTimeout(r, 5)); // the request's round trip
        slot.release();
      }),
    );
    sentAt.sort((a, b) => a - b);
    let most = 0;
    for (let lo = 0, hi = 0; hi < sentAt.length; hi++) {
      while (sentAt[hi]! - sentAt[lo]! >= 1000) lo++;
      most = Math.max(most, hi - lo + 1);
    }
    expect(most).toBeLessThanOrEqual(10);
    expect(sentAt).toHaveLength(30);
    await other.quit();
  });
});

describe('rest gate: a request nobody waits for', () => {
  it('takes only spare room, at once or not at all, and leaves the rest to requests that wait', async () => {
    const gate = createRestGate(redis, `${prefix}-spare`, { perSecond: 10 });
    const held = await Promise.all(Array.from({ length: 10 * SPARE_SHARE.bot - 1 }, () => gate.acquire('bot')));
    const spare = await gate.acquireSpare('bot');
    expect(spare).toBeDefined(); // the last of the spare share
    expect(await gate.acquireSpare('bot')).toBeUndefined(); // half the limit taken: none for the indicator…
    // …while a request someone waits for still has the other half, without waiting.
    const busy = await Promise.all(Array.from({ length: 10 * (1 - SPARE_SHARE.bot) }, () => gate.tryAcquire('bot', [])));
    expect(busy.every((slot) => 'release' in slot)).toBe(true);
    expect(await gate.hasSpare('bot')).toBe(false);
    // The webhooks' limit is another, with a larger spare share: posts and edits are all it carries.
    const posts = await Promise.all(Array.from({ length: 10 * SPARE_SHARE.webhook - 1 }, () => gate.acquire('webhook')));
    expect(await gate.hasSpare('webhook')).toBe(true);
    const edit = await gate.acquireSpare('webhook');
    expect(edit).toBeDefined();
    expect(await gate.hasSpare('webhook')).toBe(false);
    expect(await gate.acquireSpare('webhook')).toBeUndefined();
    for (const slot of [...posts, edit!]) slot.release();
    for (const slot of [...held, spare!, ...busy]) if ('release' in slot) slot.release();
  });
});

describe('rest gate: a resource budget', () => {
  const answer = (remaining: number) => ({ status: 200, headers: { get: (h: string) => ({ 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset-after': '2.000' })[h] ?? null } });

  it('keeps the lowest remaining of answers that come back in any order (a budget only goes down in a window)', async () => {
    const gate = createRestGate(redis, `${prefix}-bucket`);
    const key = 'webhook:1:abc';
    (await gate.acquire('webhook', key)).release(answer(4)); // the first request learns the budget
    await redis.ping(); // the release has run (same connection, in order)
    // Four more may go at once; Discord received them in another order than they were sent.
    const slots = await Promise.all([0, 1, 2, 3].map(() => gate.acquire('webhook', key)));
    slots[0]!.release(answer(3));
    slots[3]!.release(answer(1));
    slots[1]!.release(answer(2));
    slots[2]!.release(answer(0));
    await redis.ping();
    expect(await redis.hget(`${prefix}-bucket:rest-bucket:${key}`, 'remaining')).toBe('0');
  });

  it("counts a budget's requests in the last minute across processes", async () => {
    const other = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const gates = [createRestGate(redis, `${prefix}-minute`), createRestGate(other, `${prefix}-minute`)];
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const slot = await gates[i % 2]!.acquire('webhook', 'webhook:4:jkl');
      counts.push(slot.lastMinute ?? -1);
      slot.release(answer(4 - i));
    }
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    expect((await gates[0]!.acquire('bot')).lastMinute).toBeUndefined(); // no budget, no count
    await other.quit();
  });

  it('takes the global slot and the budget together: a request waiting on one holds nothing of the other', async () => {
    const gate = createRestGate(redis, `${prefix}-both`, { perSecond: 1 });
    const key = 'webhook:2:def';
    // (Taught through the bot's gate, so the webhook gate starts empty.)
    (await gate.acquire('bot', key)).release({ status: 429, headers: { get: (h: string) => ({ 'retry-after': '0.3', 'x-ratelimit-scope': 'user' })[h] ?? null } });
    await redis.ping();
    let waiting = true;
    // Its budget is spent for 300 ms. (Released at once: the one global slot is wanted by `third` too.)
    const held = gate.acquire('webhook', key).then((slot) => {
      waiting = false;
      slot.release();
      return slot;
    });
    await redis.ping();
    // The one global slot goes at once to a request with no budget of its own, while the other
    // still waits on its webhook.
    const other = await gate.acquire('webhook');
    expect(waiting).toBe(true);
    expect(await redis.zcard(`${prefix}-both:rest-gate:webhook`)).toBe(1);
    // And a request waiting on the global limit holds no place in its webhook's budget.
    const third = gate.acquire('webhook', 'webhook:3:ghi');
    await redis.ping();
    expect(await redis.zcard(`${prefix}-both:rest-bucket:webhook:3:ghi:in-flight`)).toBe(0);
    other.release();
    (await third).release();
    expect((await held).heldByBucketMs).toBeGreaterThan(0);
  });
});

describe('rest gate: a request that may go through any of several budgets', () => {
  const spend = (gate: ReturnType<typeof createRestGate>, key: string, ms: number) =>
    gate.acquire('webhook', key).then((slot) => slot.release({ status: 429, headers: { get: (h: string) => ({ 'retry-after': String(ms / 1000), 'x-ratelimit-scope': 'user' })[h] ?? null } }));

  it('takes the first budget with room, and says how long to wait when none has any', async () => {
    const gate = createRestGate(redis, `${prefix}-any`);
    const [a, b] = ['webhook:5:aaa', 'webhook:6:bbb'];
    await spend(gate, a, 5_000);
    await redis.ping(); // the release has run
    const first = await gate.tryAcquire('webhook', [a, b]);
    expect('release' in first && first.index).toBe(1); // a is spent: b, though offered second
    // b's budget is being learned (one request at a time) and a's is spent: nothing has room.
    const none = await gate.tryAcquire('webhook', [a, b]);
    expect(none).toEqual({ waitMs: 20, byBucket: true, byChannel: false, paused: false });
    if ('release' in first) first.release({ status: 200, headers: { get: (h: string) => ({ 'x-ratelimit-remaining': '4', 'x-ratelimit-reset-after': '2.000' })[h] ?? null } });
    await redis.ping();
    const again = await gate.tryAcquire('webhook', [a, b]);
    expect('release' in again && again.index).toBe(1);
  });

  it('passes over a budget with a crowded last minute while another has room, not when none has', async () => {
    const gate = createRestGate(redis, `${prefix}-crowded`);
    const [a, b] = ['webhook:7:ccc', 'webhook:8:ddd'];
    for (let i = 0; i < 3; i++) (await gate.acquire('webhook', a)).release();
    await redis.ping();
    const other = await gate.tryAcquire('webhook', [a, b], 3);
    expect('release' in other && other.index).toBe(1);
    // b now has one request in flight while its budget is learned: a, crowded, is the one with room.
    const crowded = await gate.tryAcquire('webhook', [a, b], 3);
    expect('release' in crowded && [crowded.index, crowded.lastMinute]).toEqual([0, 4]);
  });
});

describe("rest gate: a channel's webhooks together", () => {
  const ok = { status: 200, headers: { get: (h: string) => ({ 'x-ratelimit-remaining': '4', 'x-ratelimit-reset-after': '2.000' })[h] ?? null } };
  const refused = (scope: string, seconds: number) => ({ status: 429, headers: { get: (h: string) => ({ 'retry-after': String(seconds), 'x-ratelimit-scope': scope })[h] ?? null } });
  const grant = async (gate: ReturnType<typeof createRestGate>, bucket: string, channel: string) => {
    const got = await gate.tryAcquire('webhook', [bucket], Infinity, { channel });
    if (!('release' in got)) throw new Error(`no slot: ${JSON.stringify(got)}`);
    return got;
  };

  it("counts a channel's webhook requests through any of its webhooks, from every process", async () => {
    const other = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const gates = [createRestGate(redis, `${prefix}-channel`), createRestGate(other, `${prefix}-channel`)];
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const slot = await grant(gates[i % 2]!, `webhook:${10 + i}:x`, 'c1');
      counts.push(slot.channelMinute ?? -1);
      slot.release(ok);
    }
    expect(counts).toEqual([1, 2, 3, 4]);
    expect((await grant(gates[0]!, 'webhook:20:x', 'c2')).channelMinute).toBe(1); // another channel
    expect((await gates[0]!.acquire('webhook', 'webhook:21:x')).channelMinute).toBeUndefined(); // none named
    await other.quit();
  });

  it('after a shared 429, holds the posts of every webhook of the channel for its Retry-After, then keeps to the limit it learned', async () => {
    const gate = createRestGate(redis, `${prefix}-held`, { channelWindowMs: 1_000 });
    for (let i = 0; i < 2; i++) (await grant(gate, `webhook:${30 + i}:x`, 'c1')).release(ok);
    // The third is refused: the channel's limit, whichever webhook asks.
    (await grant(gate, 'webhook:32:x', 'c1')).release(refused('shared', 0.2));
    await redis.ping(); // the release has run
    const held = await gate.tryAcquire('webhook', ['webhook:33:x'], Infinity, { channel: 'c1' });
    expect(held).toMatchObject({ byBucket: true, byChannel: true });
    expect('waitMs' in held && held.waitMs).toBeLessThanOrEqual(200);
    // An edit goes on (nothing known says Discord counts edits there: a streamed answer's last words
    // are not kept back), even through the webhook Discord refused (the limit was the channel's, not
    // the webhook's own), and is not counted as a post.
    const editWhileHeld = await gate.tryAcquire('webhook', ['webhook:32:x'], Infinity, { channel: 'c1', kind: 'edit' });
    expect('release' in editWhileHeld && editWhileHeld.channelMinute).toBeUndefined();
    if ('release' in editWhileHeld) editWhileHeld.release(ok);
    (await grant(gate, 'webhook:34:x', 'c2')).release(ok); // another channel goes on
    // Once the hold has passed, the channel takes no more in its window than Discord had taken (2):
    // three are in the window, so the next waits for the oldest to leave it.
    await new Promise((r) => setTimeout(r, 'waitMs' in held ? held.waitMs + 5 : 0));
    const learned = await gate.tryAcquire('webhook', ['webhook:33:x'], Infinity, { channel: 'c1' });
    expect(learned).toMatchObject({ byBucket: true, byChannel: true });
    expect('waitMs' in learned && learned.waitMs).toBeLessThanOrEqual(1_000);
    expect(await redis.get(`${prefix}-held:rest-channel:c1:limit`)).toBe('2');
    const edit = await gate.tryAcquire('webhook', ['webhook:30:x'], Infinity, { channel: 'c1', kind: 'edit' });
    expect('release' in edit && edit.channelMinute).toBeUndefined(); // edits are not held to the posts' limit, nor counted
  });

  it('learns from a shared 429 on an edit too: Discord counts edits there, so its edits wait as well and fewer posts fit beside them', async () => {
    const gate = createRestGate(redis, `${prefix}-edit-held`);
    for (let i = 0; i < 5; i++) (await grant(gate, `webhook:${50 + i}:x`, 'c1')).release(ok);
    const edit = await gate.tryAcquire('webhook', ['webhook:50:x'], Infinity, { channel: 'c1', kind: 'edit' });
    if ('release' in edit) edit.release(refused('shared', 0.1));
    await redis.ping();
    expect(await gate.tryAcquire('webhook', ['webhook:55:x'], Infinity, { channel: 'c1' })).toMatchObject({ byChannel: true });
    expect(await gate.tryAcquire('webhook', ['webhook:51:x'], Infinity, { channel: 'c1', kind: 'edit' })).toMatchObject({ byChannel: true });
    expect(await redis.get(`${prefix}-edit-held:rest-channel:c1:limit`)).toBe('4');
  });

  it("does not hold the channel for a webhook's own limit (a 429 not shared)", async () => {
    const gate = createRestGate(redis, `${prefix}-own`);
    (await grant(gate, 'webhook:40:x', 'c1')).release(refused('user', 5));
    await redis.ping();
    const next = await gate.tryAcquire('webhook', ['webhook:40:x', 'webhook:41:x'], Infinity, { channel: 'c1' });
    expect('release' in next && next.index).toBe(1);
  });
});

describe('history store', () => {
  const history = createHistoryStore(redis, prefix, 3);

  it('keeps the newest messages in order, bounded, with edits and deletions', async () => {
    const ms = ['one', 'two', 'three', 'four'].map((c) => message(c));
    await history.add('h1', [ms[0]!, ms[1]!]);
    await history.add('h1', [ms[2]!, ms[3]!]);
    expect((await history.recent('h1', 10)).map((m) => m.content)).toEqual(['two', 'three', 'four']);
    await history.edit('h1', ms[2]!.id, 'three (edited)');
    await history.remove('h1', [ms[1]!.id]);
    expect((await history.recent('h1', 10)).map((m) => m.content)).toEqual(['three (edited)', 'four']);
    expect((await history.recent('h1', 1)).map((m) => m.content)).toEqual(['four']);
    // A deleted message is remembered as withdrawn, for a turn still queued to answer it.
    expect((await history.read('h1', 10, ms[1]!.id)).withdrawn).toBe(true);
    expect((await history.read('h1', 10, ms[2]!.id)).withdrawn).toBe(false);
    // A read from Discord made before the deletion, arriving after it, does not bring it back.
    await history.add('h1', [ms[1]!], { keepHeld: true });
    expect((await history.recent('h1', 10)).map((m) => m.content)).toEqual(['three (edited)', 'four']);
  });

  it('remembers each deletion a day, however often the channel sees another', async () => {
    const [early, late] = [message('deleted first'), message('deleted a day later')];
    await history.add('h5', [early, late]);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      await history.remove('h5', [early.id]);
      vi.setSystemTime(Date.now() + 25 * 3600_000);
      await history.remove('h5', [late.id]);
      expect((await history.read('h5', 10, early.id)).withdrawn).toBe(false);
      expect((await history.read('h5', 10, late.id)).withdrawn).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the copy it holds when told to (a refill from Discord knows less than the gateway did)', async () => {
    const seen = message('hey @GPT');
    await history.add('h4', [seen]);
    await history.add('h4', [{ ...seen, content: 'hey @unknown-role' }], { keepHeld: true });
    expect((await history.recent('h4', 5)).map((m) => m.content)).toEqual(['hey @GPT']);
    await history.add('h4', [{ ...seen, content: 'hey @GPT (edited)' }]);
    expect((await history.recent('h4', 5)).map((m) => m.content)).toEqual(['hey @GPT (edited)']);
  });

  it('never loses a persona tag to a later copy without one', async () => {
    const post = message('from a persona', { personaId: 'opus', isBot: true });
    await history.add('h2', [post]);
    await history.add('h2', [{ ...post, personaId: undefined } as ChannelMessage]);
    expect((await history.recent('h2', 5))[0]?.personaId).toBe('opus');
  });

  it('asks for a refill after the gateway starts a new epoch', async () => {
    expect(await history.isFilled('h3')).toBe(false);
    await history.markFilled('h3');
    expect(await history.isFilled('h3')).toBe(true);
    await history.newEpoch();
    expect(await history.isFilled('h3')).toBe(false);
  });
});

beforeAll(async () => {
  await redis.ping();
});

describe('rest gate: a 429 that stops more than its own request', () => {
  const answer = (status: number, headers: Record<string, string>) => ({ status, headers: { get: (h: string) => headers[h] ?? null } });

  it('tells a global 429 and a block from a route\'s own', () => {
    expect(pauseOf(answer(429, { 'retry-after': '1', 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' }))).toBe('global');
    expect(pauseOf(answer(429, {}))).toBe('blocked');
    expect(pauseOf(answer(429, { 'retry-after': '3' }))).toBe('blocked');
    expect(pauseOf(answer(429, { 'retry-after': '1', 'x-ratelimit-scope': 'user', 'x-ratelimit-bucket': 'abc' }))).toBeUndefined();
    expect(pauseOf(answer(429, { 'retry-after': '1', 'x-ratelimit-scope': 'shared' }))).toBeUndefined();
    expect(pauseOf(answer(200, {}))).toBeUndefined();
  });

  it('pauses every process\'s requests of the kind for a global 429\'s Retry-After, and no other kind', async () => {
    const other = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const [here, there] = [createRestGate(redis, `${prefix}-global`), createRestGate(other, `${prefix}-global`)];
    (await here.acquire('bot')).release(answer(429, { 'retry-after': '5', 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' }));
    await redis.ping();
    const held = await there.tryAcquire('bot', []);
    expect(held).toMatchObject({ paused: true, byBucket: false, byChannel: false });
    expect('waitMs' in held && held.waitMs).toBeGreaterThan(4_000);
    expect(await there.acquireSpare('bot')).toBeUndefined();
    expect('release' in (await there.tryAcquire('webhook', []))).toBe(true);
    await other.quit();
  });

  it('pauses both kinds for a block, longer for each block in a row, and starts again from one second after an answer', async () => {
    const gate = createRestGate(redis, `${prefix}-blocked`);
    const pauseLeft = async (kind: 'bot' | 'webhook') => {
      const got = await gate.tryAcquire(kind, []);
      return 'waitMs' in got && got.paused ? got.waitMs : 0;
    };
    (await gate.acquire('bot')).release(answer(429, {}));
    await redis.ping();
    expect(await pauseLeft('bot')).toBeGreaterThan(800);
    expect(await pauseLeft('bot')).toBeLessThanOrEqual(BLOCK_FIRST_MS);
    expect(await pauseLeft('webhook')).toBeGreaterThan(800);
    // A second block before any answer: twice as long (taken here without waiting the first out).
    await redis.del(`${prefix}-blocked:rest-gate:bot:pause`);
    (await gate.acquire('bot')).release(answer(429, { 'content-type': 'text/html' }));
    await redis.ping();
    expect(await pauseLeft('bot')).toBeGreaterThan(BLOCK_FIRST_MS);
    // An answer that is not a 429 ends the run: the next block is one second again.
    await redis.del(`${prefix}-blocked:rest-gate:bot:pause`, `${prefix}-blocked:rest-gate:webhook:pause`);
    (await gate.acquire('bot')).release(answer(200, {}));
    (await gate.acquire('bot')).release(answer(429, {}));
    await redis.ping();
    expect(await pauseLeft('bot')).toBeLessThanOrEqual(BLOCK_FIRST_MS);
  });
});

describe('channels the gateway heard from', () => {
  it('drops those not heard from in a day as messages come, not only when a fresh session reads them', async () => {
    const { noteHeard } = await import('../../bot/catch-up.ts');
    const start = Date.now();
    await noteHeard(redis, prefix, '111', '1', start);
    await noteHeard(redis, prefix, '222', '1', start + 60_000);
    expect(await redis.zrange(`${prefix}:gateway-heard`, '0', '-1')).toEqual(['1/111', '1/222']);
    await noteHeard(redis, prefix, '333', '1', start + 25 * 3600_000);
    expect(await redis.zrange(`${prefix}:gateway-heard`, '0', '-1')).toEqual(['1/333']);
  });
});

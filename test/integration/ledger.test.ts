// The reply ledger against the real Redis: saving a reply's text answers with the progress a post
// goes on from, in the same step, whichever attempt saved first and whether or not Redis still
// knows the script.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../core/ledger.ts';
import { deletePrefix } from '../../playground/redis.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const prefix = `ledger-test-${process.pid}`;
const ledger = createLedger(redis, prefix, 90);
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('saveText', () => {
  it('returns the progress holding the first attempt’s text, with what was posted before it', async () => {
    await ledger.beginAttempt('m1', 'opus');
    await ledger.recordPost('m1', 'opus', 0, { messageId: 'p1', webhookId: 'w1', final: false }, { depth: 1, notice: false });
    const first = await ledger.saveText('m1', 'opus', 'the first answer', { kind: 'reply' });
    expect(first.text).toBe('the first answer');
    expect(first.meta).toBe('{"kind":"reply"}');
    expect(first.posted.get(0)).toEqual({ messageId: 'p1', webhookId: 'w1', final: false });
    expect(first.attempts).toBe(1);

    // A racing attempt's text loses, and it is told the words it must post instead.
    const second = await ledger.saveText('m1', 'opus', 'another answer', { kind: 'notice' });
    expect(second.text).toBe('the first answer');
    expect(second.meta).toBe('{"kind":"reply"}');
    expect(await ledger.progress('m1', 'opus')).toEqual(second);
  });

  it('answers the same after Redis forgot its scripts (a restart without them)', async () => {
    await redis.script('FLUSH');
    const saved = await ledger.saveText('m2', 'gpt', 'said after a flush', { kind: 'reply' });
    expect(saved.text).toBe('said after a flush');
    expect(saved).toEqual(await ledger.progress('m2', 'gpt'));
  });
});

describe('markDone', () => {
  it('keeps what stops a re-run, for a week, and lets the text, the model call and pending pieces go', async () => {
    const request = { messages: Array.from({ length: 40 }, (_, i) => ({ role: 'user', content: `message ${i} `.repeat(20) })) };
    await ledger.beginAttempt('m3', 'opus');
    await ledger.saveText('m3', 'opus', 'the answer', { kind: 'reply', modelTurn: { request } });
    await ledger.markPending('m3', 'opus', 0, 'the answer');
    await ledger.recordPost('m3', 'opus', 0, { messageId: 'p3', webhookId: 'w3', final: true }, { depth: 1, notice: false });
    await ledger.markPending('m3', 'opus', 1, 'a second piece, sent, never confirmed');
    const key = `${prefix}:reply:m3:opus`;
    const before = Number(await redis.memory('USAGE', key, 'SAMPLES', 0));

    expect(await ledger.markDone('m3', 'opus', '[{"personaId":"gpt"}]')).toBe('[{"personaId":"gpt"}]');
    const done = await ledger.progress('m3', 'opus');
    expect(done.done).toBe(true);
    expect(done.followUps).toBe('[{"personaId":"gpt"}]');
    expect(done.attempts).toBe(1);
    expect(done.text).toBeUndefined();
    expect(done.meta).toBeUndefined();
    expect(done.pending.size).toBe(0);
    expect(await redis.ttl(key)).toBeLessThanOrEqual(7 * 24 * 3600);
    expect(await redis.ttl(key)).toBeGreaterThan(6 * 24 * 3600);
    // Which persona sent the post is remembered as long as before.
    expect(await ledger.postOf('p3')).toEqual({ personaId: 'opus', depth: 1, notice: false });
    expect(await redis.ttl(`${prefix}:post:p3`)).toBeGreaterThan(7 * 24 * 3600);
    expect(Number(await redis.memory('USAGE', key, 'SAMPLES', 0))).toBeLessThan(before / 10);
  });
});

describe('markDone with follow-ups', () => {
  it('keeps the follow-ups the first attempt chose, and says which', async () => {
    expect(await ledger.markDone('m4', 'opus', '[{"personaId":"gpt"}]')).toBe('[{"personaId":"gpt"}]');
    // A second attempt rolled other dice: the first choice stands, and it is told so.
    expect(await ledger.markDone('m4', 'opus', '[]')).toBe('[{"personaId":"gpt"}]');
    expect(await ledger.markDone('m4', 'opus')).toBe('[{"personaId":"gpt"}]');
    // Marked done without any: none.
    expect(await ledger.markDone('m5', 'opus')).toBeUndefined();
    expect((await ledger.progress('m5', 'opus')).done).toBe(true);
  });
});

describe('what a ledger entry costs over time', () => {
  it('keeps a post made without an attempt (a notice, an interview’s post) for a while, not for good', async () => {
    await ledger.markPending('notice-c1-refused', 'chorus', 0, 'a notice');
    expect(await redis.ttl(`${prefix}:reply:notice-c1-refused:chorus`)).toBeGreaterThan(89 * 24 * 3600);
    await ledger.recordPost('interview-q1', 'opus', 0, { messageId: 'p9', webhookId: 'w9', final: true }, { depth: 0, notice: false });
    expect(await redis.ttl(`${prefix}:reply:interview-q1:opus`)).toBeGreaterThan(89 * 24 * 3600);
    // Posted and recorded, a piece's pending content (kept to look for it after a lost answer) goes:
    // such an entry is never marked done, and would keep the text as long as its TTL.
    await ledger.recordPost('notice-c1-refused', 'chorus', 0, { messageId: 'p11', webhookId: 'w9', final: true }, { depth: 0, notice: true });
    expect(await redis.hkeys(`${prefix}:reply:notice-c1-refused:chorus`)).toEqual(['posted:0']);
  });

  it('does not lengthen a finished entry’s week when a post is recorded after it', async () => {
    await ledger.beginAttempt('m3', 'opus');
    await ledger.markDone('m3', 'opus');
    await ledger.recordPost('m3', 'opus', 1, { messageId: 'p10', webhookId: 'w1', final: true }, { depth: 1, notice: false });
    expect(await redis.ttl(`${prefix}:reply:m3:opus`)).toBeLessThanOrEqual(7 * 24 * 3600);
  });
});

describe('claiming follow-ups (model-to-model turns)', () => {
  it('holds a persona\'s cooldown and the channel\'s per-minute cap across workers claiming at once', async () => {
    const other = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    try {
      const ledgers = [ledger, createLedger(other, prefix, 90)];
      const now = Date.now();
      // 40 persona posts at once, each naming a different persona, from two workers: 20 a minute.
      const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => ledgers[i % 2]!.claimFollowUps('busy', [`p${i}`], `post-${i}`, { cooldownSeconds: 0, perMinute: 20 }, now)));
      expect(claims.flat().filter((c) => c === 'claimed')).toHaveLength(20);
      expect(claims.flat().filter((c) => c === 'channel-rate')).toHaveLength(20);
      // Two posts naming the same persona: it is brought in once; the first post's retry keeps its claim.
      expect(await ledger.claimFollowUps('quiet', ['legacy'], 'post-a', { cooldownSeconds: 10, perMinute: 20 }, now)).toEqual(['claimed']);
      expect(await ledgers[1]!.claimFollowUps('quiet', ['legacy'], 'post-b', { cooldownSeconds: 10, perMinute: 20 }, now)).toEqual(['cooldown']);
      expect(await ledger.claimFollowUps('quiet', ['legacy'], 'post-a', { cooldownSeconds: 10, perMinute: 20 }, now)).toEqual(['claimed']);
      // A retry after its backoff, past the minute and the cooldown, with the minute now full: still its own claim.
      const later = now + 90_000;
      await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.claimFollowUps('quiet', [`q${i}`], `post-q${i}`, { cooldownSeconds: 0, perMinute: 20 }, later)));
      expect(await ledger.claimFollowUps('quiet', ['legacy'], 'post-a', { cooldownSeconds: 10, perMinute: 20 }, later)).toEqual(['claimed']);
      expect(await ledger.claimFollowUps('quiet', ['other'], 'post-c', { cooldownSeconds: 10, perMinute: 20 }, later)).toEqual(['channel-rate']);
    } finally {
      await other.quit();
    }
  });
});

// The reply ledger against the real Redis: saving a reply's text answers with the progress a post
// goes on from, in the same step, whichever attempt saved first and whether or not Redis still
// knows the script.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../core/ledger.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const prefix = `ledger-test-${process.pid}`;
const ledger = createLedger(redis, prefix, 1);
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
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

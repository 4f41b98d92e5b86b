// The Redis-backed stores against the real local Redis.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHistoryStore } from '../../core/history.ts';
import type { ChannelMessage } from '../../core/messages.ts';
import { createDrainQueue, createTurnStore, type Turn } from '../../core/turns.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `stores-${process.pid}-${Date.now().toString(36)}`;
const queue = createDrainQueue(redis, prefix);

afterAll(async () => {
  await queue.obliterate({ force: true });
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await queue.close();
  await redis.quit();
});

let seq = 1_500_000_000_000_000_000n;
const message = (content: string, extra: Partial<ChannelMessage> = {}): ChannelMessage => {
  seq += 1n << 22n;
  return { id: String(seq), authorId: 'u', authorName: 'Alice', content, isBot: false, createdAt: '', ...extra };
};
const turn = (channelId: string, trigger: ChannelMessage, personaId = 'opus'): Turn => ({ v: 2, channelId, personaId, reason: 'named', depth: 1, trigger, receivedAt: 0 });

describe('turn store', () => {
  const turns = createTurnStore(redis, queue, prefix, 600);

  it('keeps turns in order, drops repeats, and schedules one drain per busy channel', async () => {
    const a = message('a');
    const b = message('b');
    expect(await turns.append([turn('c1', a), turn('c1', a, 'gpt')])).toBe(2);
    expect(await turns.append([turn('c1', b), turn('c1', a)])).toBe(1); // the repeat is dropped
    expect(await queue.getJobCounts('wait')).toEqual({ wait: 1 });
    const heads: string[] = [];
    for (let head = await turns.head('c1'); head; head = await turns.head('c1')) {
      heads.push(`${head.turn.trigger.content}:${head.turn.personaId}`);
      await turns.pop('c1', head.raw);
    }
    expect(heads).toEqual(['a:opus', 'a:gpt', 'b:opus']);
    expect(await turns.finish('c1')).toBe(true);
  });

  it('schedules a fresh drain (with a new job id) once the last one has finished', async () => {
    await queue.obliterate({ force: true });
    await turns.append([turn('c2', message('x'))]);
    const [first] = await queue.getJobs(['wait']);
    await turns.pop('c2', (await turns.head('c2'))!.raw);
    expect(await turns.finish('c2')).toBe(true);
    await turns.append([turn('c2', message('y'))]);
    const ids = (await queue.getJobs(['wait'])).map((j) => j.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    expect(ids).toContain(first?.id);
  });

  it('does not end a drain while turns remain', async () => {
    await turns.append([turn('c3', message('z'))]);
    expect(await turns.finish('c3')).toBe(false);
  });

  it('recovers a channel whose drain job was lost', async () => {
    await queue.obliterate({ force: true });
    expect(await turns.pending('c3')).toBe(1);
    expect(await turns.recover()).toBeGreaterThanOrEqual(1);
    expect((await queue.getJobs(['wait'])).map((j) => j.data.channelId)).toContain('c3');
    expect(await turns.recover()).toBe(0); // a waiting drain is left alone
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

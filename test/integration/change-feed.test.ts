// The copies a process keeps of what Redis holds (settings, live sessions, webhook pools): dropped
// when any process announces a change, and never kept for good for a place read once.
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createChangeFeed } from '../../core/changes.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const feed = createChangeFeed(redis, `feed-${process.pid}-${Date.now().toString(36)}`);
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await feed.close();
  redis.disconnect();
});

describe('a read-through cache', () => {
  it('sweeps copies past their time, so places read once are not held for good', async () => {
    const cache = feed.cache<string>('sweep-test', 1_000);
    // Copies are kept once the feed is heard (its subscription is up).
    await vi.waitFor(async () => {
      await cache.get('first', async () => 'v');
      expect(cache.size()).toBe(1);
    });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    for (let i = 0; i < 100; i++) await cache.get(`place-${i}`, async () => 'v');
    expect(cache.size()).toBe(101);
    vi.setSystemTime(Date.now() + 1_500);
    // The next read, a period later, finds every other copy stale and lets it go.
    expect(await cache.get('later', async () => 'w')).toBe('w');
    expect(cache.size()).toBe(1);
  });
});

// What chorus keeps in Redis of a channel does not outlive it: a channel's history and its target
// expire a while after the last message, and a channel or thread deleted takes them (and its
// webhooks' tokens) with it. Against the stand-in and the real Redis.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HISTORY_MEMORY_SECONDS } from '../../core/history.ts';
import { startHarness, type Harness } from './harness.ts';

describe('what Redis keeps of a channel', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.anthropicHost.setResponder(() => ({ text: 'Hello there.' }));
  });
  afterAll(() => h?.close());

  const keysOf = async (channelId: string) => {
    const prefix = h.config.CHORUS_PREFIX;
    const names = ['history', 'history-messages', 'history-personas', 'history-places', 'history-counter', 'channel', 'webhooks', 'settings:channel', 'live-session'].map((k) => `${prefix}:${k}:${channelId}`);
    const ttls = await Promise.all(names.map((k) => h.stores.redis.ttl(k)));
    return Object.fromEntries(names.map((k, i) => [k.slice(prefix.length + 1, k.length - channelId.length - 1), ttls[i]]));
  };

  const answered = async (channelId: string) => {
    const reply = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, hello' });
    await reply;
    await h.settled();
  };

  it('keeps a channel’s history for a while after its last message, and forgets a deleted thread and channel whole', async () => {
    const channelId = h.discord.addChannel({ name: 'kept' });
    await answered(channelId);
    const { threadId } = await h.discord.userCreatesThread({ channelId, name: 'a thread' });
    await answered(threadId);

    for (const id of [channelId, threadId]) {
      const ttls = await keysOf(id);
      for (const k of ['history', 'history-messages', 'history-personas', 'history-places', 'history-counter']) {
        expect(ttls[k], `${k} of ${id}`).toBeGreaterThan(HISTORY_MEMORY_SECONDS - 60);
        expect(ttls[k], `${k} of ${id}`).toBeLessThanOrEqual(HISTORY_MEMORY_SECONDS);
      }
      expect(ttls['channel'], `channel of ${id}`).toBeGreaterThan(0);
    }
    // The pool is kept a month after it was last read (used again, its webhooks are adopted back).
    expect((await keysOf(channelId))['webhooks']).toBeGreaterThan(29 * 24 * 3600);

    // Settings of its own and a live session (a recording, an interview) go with it too.
    for (const id of [channelId, threadId]) {
      await h.stores.settings.set('channel', id, 'chainDepth', 1);
      await h.stores.live.set(id, { sessionId: `s-${id}`, kind: 'channel' });
      expect((await keysOf(id))['settings:channel']).toBe(-1);
      expect((await keysOf(id))['live-session']).toBe(-1);
    }

    h.discord.deleteChannel(threadId);
    await vi.waitFor(async () => expect(Object.values(await keysOf(threadId)).every((ttl) => ttl === -2)).toBe(true), { timeout: 10_000, interval: 20 });
    h.discord.deleteChannel(channelId);
    await vi.waitFor(async () => expect(Object.values(await keysOf(channelId)).every((ttl) => ttl === -2)).toBe(true), { timeout: 10_000, interval: 20 });
  });
});

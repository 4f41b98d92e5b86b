// A busy channel: three workers reply to a stand-in that enforces Discord's per-webhook and global
// limits, answering 429 as Discord does — sharing one rate limit through Redis (the default), and
// through chorus's REST proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count429, maxPerSecond } from '../../local-discord/server.ts';
import { numberAsked, type RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';


const MESSAGES = 30;
const SPEAKERS = [
  ['Opus', 'Opus'],
  ['GPT', 'GPT'],
  ['Base', 'Base'],
] as const;

/** Each model answers with the number of the message it was asked about. */
function echoNumber(req: RecordedRequest): { text: string } {
  return { text: `#${numberAsked(req)}` };
}

describe.each([
  ['the shared Redis gate', false],
  ['the REST proxy', true],
])('a busy channel under Discord rate limits, with %s', (_, viaProxy) => {
  let h: Harness;
  beforeAll(async () => {
    // As deployed: three worker processes (and, in the second case, the REST proxy process).
    h = await startHarness({ inProcessWorkers: 0, enforceRateLimits: true, viaProxy, env: { WEBHOOK_POOL_SIZE: '3', PERSONA_COOLDOWN_SECONDS: '0' } });
    await Promise.all([h.spawnWorker(), h.spawnWorker(), h.spawnWorker()]);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('delivers every reply, none lost or doubled, within the global limit', async () => {
    h.anthropicHost.setResponder(echoNumber);
    h.openaiHost.setResponder(echoNumber);
    const channelId = h.discord.addChannel({ name: 'busy' });
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const [name] = SPEAKERS[i % SPEAKERS.length]!;
      ids.push((await h.discord.userSays({ channelId, content: `${name}, number ${i}` })).id);
    }
    for (const id of ids) expect(await h.routed(id)).toBe(1);
    await h.settled();

    // Independent messages are answered at once, so replies show in the order they finish.
    const posts = h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);
    expect(posts.map((m) => `${m.author.username} ${m.content}`).sort()).toEqual(
      Array.from({ length: MESSAGES }, (_, i) => `${SPEAKERS[i % SPEAKERS.length]![1]} #${i}`).sort(),
    );
    const bot = (c: { authorized: boolean }) => c.authorized;
    expect(maxPerSecond(h.discord.restCalls, bot)).toBeLessThanOrEqual(50);
    // Per webhook, never more than Discord's burst of 5 in 2 s reached the stand-in as accepted calls.
    // The channel's first reply waits for one webhook; the pool grows, in the background, as that
    // webhook's own budget runs low — in a channel this busy, to more than one.
    const webhooks = new Set(posts.map((m) => m.webhook_id!));
    expect(webhooks.size).toBeGreaterThanOrEqual(2);
    expect(webhooks.size).toBeLessThanOrEqual(3);
    for (const id of webhooks) {
      const accepted = h.discord.restCalls.filter((c) => c.path.includes(`/webhooks/${id}/`) && c.status < 300);
      expect(maxPerSecond(accepted, undefined, 2000)).toBeLessThanOrEqual(5);
    }
    console.log(`busy channel (${_}): ${posts.length} replies, ${count429(h.discord.restCalls)} answers of 429, max bot calls in a second ${maxPerSecond(h.discord.restCalls, bot)}`);
  }, 60_000);

  it('keeps the bot within 50 requests a second when many channels wake at once', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'hello' }));
    const channels = Array.from({ length: 30 }, (_, i) => h.discord.addChannel({ name: `room-${i}` }));
    const start = Date.now();
    const ids = await Promise.all(channels.map(async (channelId) => (await h.discord.userSays({ channelId, content: 'Opus, wake up' })).id));
    for (const id of ids) expect(await h.routed(id)).toBe(1);
    await h.settled();
    for (const channelId of channels) {
      expect(h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined).map((m) => m.content)).toEqual(['hello']);
      // A quiet channel costs one webhook, not a whole pool.
      expect(h.discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${channelId}/webhooks`))).toHaveLength(1);
    }
    const calls = h.discord.restCalls.filter((c) => c.at >= start);
    const bot = calls.filter((c) => c.authorized);
    // Each new channel costs the bot its webhook and history calls: more than a second's worth.
    expect(bot.length).toBeGreaterThan(50);
    expect(maxPerSecond(calls, (c) => c.authorized)).toBeLessThanOrEqual(50);
    console.log(`many channels (${_}): ${bot.length} bot calls, max in a second ${maxPerSecond(calls, (c) => c.authorized)}, 429s ${count429(calls)}`);
  }, 60_000);
});

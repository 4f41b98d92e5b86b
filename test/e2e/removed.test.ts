// chorus removed from a server while turns there wait in the queue: they are let go, not tried one
// by one against Discord's refusals (each refusal counts toward its limit on invalid requests).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 0 });
  h.anthropicHost.setResponder(() => ({ text: 'an answer' }));
});
afterAll(async () => {
  await h?.close();
});

describe('a server chorus was removed from', () => {
  it('lets the turns queued there go without a request, and answers again once added back', async () => {
    const { guildId, channelId } = h.discord.addGuild({ name: 'left behind' });
    const asked = await h.discord.userSays({ channelId, content: 'Opus, are you there?' });
    expect(await h.routed(asked.id)).toBe(1);
    // Removed (no `unavailable`: not an outage).
    h.discord.dispatchRaw('GUILD_DELETE', { id: guildId }, { guildId });
    await vi.waitFor(async () => expect(await h.stores.access.hasLeft(guildId)).toBe(true));
    const from = h.discord.restCalls.length;
    h.addWorker();
    await h.settled();
    expect(h.anthropicHost.requests).toHaveLength(0);
    expect(h.discord.restCalls.slice(from).filter((c) => c.path.includes('/webhooks') || c.path.includes(`/channels/${channelId}`))).toEqual([]);

    // Added back: what was known of its leaving is forgotten.
    h.discord.dispatchRaw('GUILD_CREATE', { id: guildId, joined_at: new Date().toISOString() }, { guildId });
    await vi.waitFor(async () => expect(await h.stores.access.hasLeft(guildId)).toBe(false));
    const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, and now?' });
    expect((await answered).content).toBe('an answer');
  });
});

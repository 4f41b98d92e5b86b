// A busy channel whose Manage Webhooks was taken away after chorus made its first webhook: the
// webhook it has goes on posting every answer, and a pool that cannot grow is not asked to again
// and again (each refusal counts toward Discord's limit on invalid requests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 2 });
});
afterAll(async () => {
  await h?.close();
});

describe('a busy channel chorus may no longer make webhooks in', () => {
  it('posts through the webhook it has, and asks for another at most once', async () => {
    const channelId = h.discord.addChannel({ name: 'busy' });
    h.anthropicHost.setResponder(() => ({ text: 'warm' }));
    const first = await h.discord.userSays({ channelId, content: 'Opus, hello' });
    await h.routed(first.id);
    await h.settled();
    h.discord.denyPermission(channelId, 'ManageWebhooks');
    h.openaiHost.setResponder(() => ({ text: 'reply' }));
    h.anthropicHost.setResponder(() => ({ text: 'reply' }));
    const from = h.discord.restCalls.length;
    for (let i = 0; i < 30; i++) await h.routed((await h.discord.userSays({ channelId, content: `Opus and GPT, number ${i}` })).id);
    await h.settled();
    const calls = h.discord.restCalls.slice(from);
    // Growing a pool lists the channel's webhooks (to adopt any of its own) before it makes one.
    const asked = calls.filter((c) => (c.method === 'POST' || c.method === 'GET') && c.path.endsWith(`/channels/${channelId}/webhooks`));
    expect(asked.length).toBeGreaterThan(0); // the pool was crowded: another webhook was wanted…
    expect(asked.filter((c) => c.status === 403)).toHaveLength(1); // …and refused once, not on every crowded post
    expect(h.discord.messages(channelId).filter((m) => m.content === 'reply')).toHaveLength(60);
  });
});

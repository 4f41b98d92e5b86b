// A channel busier than Discord lets webhooks post into: past its hidden limit (about 30 webhook
// posts a minute per channel; 5 here), the personas' answers go out as the bot, under their names,
// rather than wait for the minute; they stay the personas' words for routing, models and records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberAsked, type RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

const MESSAGES = 12;

describe('a channel past Discord\'s limit on its webhooks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ enforceRateLimits: true, discord: { webhookChannelLimit: { limit: 5, windowMs: 60_000 } }, env: { PERSONA_COOLDOWN_SECONDS: '0', STREAM_EDIT_INTERVAL_MS: '0' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers every message once, the overflow as the bot under the persona's name, and keeps them the persona's", async () => {
    h.anthropicHost.setResponder((req: RecordedRequest) => ({ text: `#${numberAsked(req)}` }));
    const channelId = h.discord.addChannel({ name: 'hot' });
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) ids.push((await h.discord.userSays({ channelId, content: `Opus, number ${i}` })).id);
    for (const id of ids) expect(await h.routed(id)).toBe(1);
    await h.settled();

    const answers = h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined || m.author.id === h.discord.botUser.id);
    const byWebhook = answers.filter((m) => m.webhook_id !== undefined);
    const byBot = answers.filter((m) => m.webhook_id === undefined);
    // Discord took 5 from the webhooks; the rest did not wait out its minute.
    expect(byWebhook.length).toBeLessThanOrEqual(5);
    expect(byBot.length).toBeGreaterThan(0);
    for (const m of byWebhook) expect(m.author.username).toBe('Opus');
    for (const m of byBot) expect(m.content).toMatch(/^\*\*Opus\*\*\n#\d+$/);
    const said = answers.map((m) => m.content.replace(/^\*\*Opus\*\*\n/, '')).sort();
    expect(said).toEqual(Array.from({ length: MESSAGES }, (_, i) => `#${i}`).sort());
    // Shared 429s only (Discord does not count them toward its ban), and few: the limit is learned.
    expect(h.discord.invalidRequests()).toBe(0);

    // A reply to an answer the bot posted goes to its persona, who reads its own words without the
    // name line — also after the bot edits the post (as it finalises a streamed preview it made).
    const overflow = byBot[0]!;
    const words = overflow.content.split('\n')[1]!;
    await h.discord.userEdits(overflow.id, `${overflow.content} (edited)`);
    const before = h.anthropicHost.requests.length;
    const reply = await h.discord.userSays({ channelId, content: 'why number that one?', replyTo: overflow.id });
    expect(await h.routed(reply.id)).toBe(1);
    await h.settled();
    const asked = JSON.stringify(h.anthropicHost.requests.slice(before).at(-1)?.body);
    expect(asked).toContain(words);
    expect(asked).not.toContain('**Opus**');
    expect(asked).not.toContain('(edited)');
  });

  it("reads a bot-posted answer back from Discord as its persona's words when the history is refilled", async () => {
    h.anthropicHost.setResponder(() => ({ text: 'noted' }));
    const channelId = h.discord.addChannel({ name: 'hot-refill' });
    for (let i = 0; i < 8; i++) await h.routed((await h.discord.userSays({ channelId, content: `Opus, say ${i}` })).id);
    await h.settled();
    const overflow = h.discord.messages(channelId).find((m) => m.webhook_id === undefined && m.author.id === h.discord.botUser.id);
    expect(overflow).toBeDefined();
    // The history is gone (Redis lost it, or it expired): the next reply reads the channel from Discord.
    // (Not `remove`: that is a deletion in Discord, which a read from Discord must not bring back.)
    await h.stores.history.forget(channelId);
    const before = h.anthropicHost.requests.length;
    await h.routed((await h.discord.userSays({ channelId, content: 'Opus, and now?' })).id);
    await h.settled();
    const request = h.anthropicHost.requests.slice(before).at(-1)!.body as { messages: { role: string; content: unknown }[] };
    // All eight of its answers, the one read back from Discord too, as its own turns, without the
    // line that named it in the channel.
    const own = JSON.stringify(request.messages.filter((m) => m.role === 'assistant'));
    expect(own.match(/noted/g)).toHaveLength(8);
    expect(JSON.stringify(request)).not.toContain('**Opus**');
  });
});

// Prompt caching against a host that caches as Anthropic documents: a long conversation with one
// persona reads most of each request from the cache, and every recorded turn says how much.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
// ~1,500 tokens: over the 1,024-token minimum a prefix must reach to be cached.
const SYSTEM = 'You are Extra1, a patient historian of early language models who answers in two sentences. '.repeat(65);

beforeAll(async () => {
  h = await startHarness({ extraPersonas: 1, extraSystemPrompt: SYSTEM, env: { HISTORY_MESSAGES: '20' } });
});
afterAll(async () => {
  await h?.close();
});

describe('prompt caching', () => {
  it('reads most of a 30-turn conversation from the cache, the window rolling forward in steps', async () => {
    const channelId = h.discord.addChannel({ name: 'long-talk' });
    h.anthropicHost.resetCacheStats();
    const turns = 30;
    for (let i = 0; i < turns; i++) {
      h.anthropicHost.setResponder(() => ({ text: `Answer ${i}: the old models spoke in long paragraphs.` }));
      const reply = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Extra1');
      await h.discord.userSays({ channelId, content: `Extra1, question ${i}: ${'what did they say about the weather, and about the sea? '.repeat(8)}` });
      await reply;
    }
    await h.settled();
    const stats = h.anthropicHost.cacheStats().anthropic;
    expect(stats.requests).toBe(turns);
    // The system prompt is read from cache on every turn after the first; the history too, except
    // when the window's start jumps a step (every 10 messages, 5 turns here). A window sliding one
    // message at a time would re-write the whole history each turn once full (~60% read, measured).
    expect(stats.reads).toBe(turns - 1);
    const share = stats.readTokens / (stats.readTokens + stats.writeTokens + stats.uncachedInputTokens);
    expect(share).toBeGreaterThan(0.75);

    const usages = h.outcomes.filter((o) => o.job.channelId === channelId && o.outcome.status === 'posted').map((o) => ('saved' in o.outcome ? o.outcome.saved.usage : undefined));
    expect(usages).toHaveLength(turns);
    const read = usages.reduce((sum, u) => sum + (u?.cacheReadTokens ?? 0), 0);
    expect(read).toBe(stats.readTokens);
    for (const u of usages) expect(u!.inputTokens).toBeGreaterThanOrEqual((u!.cacheReadTokens ?? 0) + (u!.cacheWriteTokens ?? 0));
  });
});

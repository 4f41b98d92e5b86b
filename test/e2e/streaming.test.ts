// Streaming replies: post early, edit as tokens arrive, end with the full text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandInMessage } from '../../local-discord/server.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { STREAM_EDIT_INTERVAL_MS: '1' } });
});
afterAll(async () => {
  await h?.close();
});

const personaPosts = (channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);

describe('streaming', () => {
  it('posts the first tokens at once, edits as more arrive, and ends with the full text', async () => {
    const channelId = h.discord.addChannel({ name: 'stream' });
    const chunks = ['The first', ' words, then', ' some more,', ' and the end.'];
    // Each chunk waits for the previous one to be visible, so every stage can be observed.
    const visible: Promise<unknown>[] = [
      Promise.resolve(),
      h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus'),
      h.discord.nextRestCall((c) => c.method === 'PATCH' && c.body !== undefined && JSON.stringify(c.body).includes('words, then')),
      h.discord.nextRestCall((c) => c.method === 'PATCH' && JSON.stringify(c.body ?? '').includes('some more')),
    ];
    h.anthropicHost.setResponder(() => ({ chunks, beforeChunk: (i) => visible[i] }));
    await h.discord.userSays({ channelId, content: 'Opus, take your time' });
    const post = (await visible[1]) as StandInMessage;
    expect(post.content).toBe('The first');
    await h.settled();
    const edits = h.discord.restCalls.filter((c) => c.method === 'PATCH' && c.path.includes(`/messages/${post.id}`));
    expect(edits.length).toBeGreaterThanOrEqual(2);
    for (const e of edits) expect((e.body as { allowed_mentions?: unknown }).allowed_mentions).toEqual({ parse: [], users: [], roles: [], replied_user: false });
    expect(h.discord.messages(channelId).find((m) => m.id === post.id)?.content).toBe('The first words, then some more, and the end.');
    expect(personaPosts(channelId)).toHaveLength(1);
    const outcome = h.outcomes.find((o) => o.job.channelId === channelId)?.outcome;
    expect(outcome && 'firstTokenToVisibleMs' in outcome ? outcome.firstTokenToVisibleMs : undefined).toBeGreaterThanOrEqual(0);
  });

  it('splits a long streamed answer into several messages at the end', async () => {
    const channelId = h.discord.addChannel({ name: 'long-stream' });
    const words = Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ');
    h.anthropicHost.setResponder(() => ({ text: words }));
    await h.discord.userSays({ channelId, content: 'Opus, talk a lot' });
    await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.settled();
    const posts = personaPosts(channelId);
    expect(posts.length).toBe(2);
    expect(posts.map((m) => m.content).join(' ')).toBe(words);
  });
});


// A thread closed while a persona's answer streams into it: archived (a quiet thread, a forum post
// its author closed), the answer is finished where it shows; locked by a moderator, chorus leaves
// it locked and says nothing there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 1, env: { STREAM_EDIT_INTERVAL_MS: '1' } });
});
afterAll(async () => {
  await h?.close();
});

/** A thread with its persona webhook made, then an answer held after its first words until `close` runs. */
async function answerInterruptedBy(close: (threadId: string) => void) {
  const channelId = h.discord.addChannel({ name: 'parent' });
  const threadId = h.discord.addChannel({ name: 'thread', parentId: channelId, thread: true });
  h.anthropicHost.setResponder(() => ({ text: 'warm' }));
  const warm = await h.discord.userSays({ channelId: threadId, content: 'Opus, hello' });
  await h.routed(warm.id);
  await h.settled();
  let closed!: () => void;
  const afterClose = new Promise<void>((r) => (closed = r));
  h.anthropicHost.setResponder(() => ({ chunks: ['The first part of a long answer', ' and then', ' the rest of it.'], beforeChunk: (i) => (i === 1 ? afterClose : undefined) }));
  const from = h.discord.restCalls.length;
  await h.discord.userSays({ channelId: threadId, content: 'Opus, tell me a lot' });
  const preview = await h.discord.nextMessage((m) => m.channel_id === threadId && m.content.startsWith('The first'));
  close(threadId);
  closed();
  await h.settled();
  const thread = h.discord.channels().find((c) => c.id === threadId)!;
  return { threadId, preview, thread, calls: h.discord.restCalls.slice(from), posts: h.discord.messages(threadId).slice(3) };
}

describe('a thread closed while an answer streams into it', () => {
  it('archived: the answer is finished in the post already showing', async () => {
    const { preview, thread, posts } = await answerInterruptedBy((id) => h.discord.archiveThread(id));
    expect(posts.map((m) => m.content)).toEqual(['The first part of a long answer and then the rest of it.']);
    expect(posts[0]!.id).toBe(preview.id);
    expect(thread.archived).toBe(false);
  });

  it('locked: left locked, with nothing posted there and nothing refused as forbidden', async () => {
    const { thread, calls, posts } = await answerInterruptedBy((id) => h.discord.lockThread(id));
    expect(posts.map((m) => m.content)).toEqual(['The first part of a long answer']);
    expect([thread.archived, thread.locked]).toEqual([true, true]);
    expect(calls.filter((c) => c.method === 'PATCH' && /^\/api\/v\d+\/channels\/\d+$/.test(c.path))).toHaveLength(0);
    expect(calls.filter((c) => c.status === 403)).toHaveLength(0);
    expect(h.outcomes.at(-1)?.outcome.status).toBe('undeliverable');
  });

  it('locked before a question in it is answered: nothing is posted, and no notice is tried', async () => {
    const channelId = h.discord.addChannel({ name: 'parent-2' });
    const threadId = h.discord.addChannel({ name: 'locked', parentId: channelId, thread: true });
    h.anthropicHost.setResponder(() => ({ text: 'warm' }));
    await h.routed((await h.discord.userSays({ channelId: threadId, content: 'Opus, hello' })).id);
    await h.settled();
    h.discord.lockThread(threadId);
    const from = h.discord.restCalls.length;
    // (Only moderators may write in a locked thread; one does.)
    await h.routed((await h.discord.userSays({ channelId: threadId, content: 'Opus, one more?' })).id);
    await h.settled();
    const calls = h.discord.restCalls.slice(from);
    expect(h.outcomes.at(-1)?.outcome.status).toBe('undeliverable');
    expect(calls.filter((c) => c.method === 'POST' && c.path.endsWith(`/channels/${threadId}/messages`))).toHaveLength(0);
    expect(calls.filter((c) => c.status === 403)).toHaveLength(0);
  });
});

// Streaming replies: post early, edit as tokens arrive, end with the full text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandInMessage } from '../../local-discord/server.ts';
import { INTERRUPTED } from '../../workers/reply.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { STREAM_EDIT_INTERVAL_MS: '1' } });
});
afterAll(async () => {
  await h?.close();
});

const personaPostsIn = (x: Harness, channelId: string) => x.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);
const personaPosts = (channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);

describe('streaming', () => {
  it('says an answer cut off mid-stream is being tried again, and finishes it in the same post', async () => {
    const channelId = h.discord.addChannel({ name: 'interrupted' });
    let calls = 0;
    // Anthropic's overload, sent inside a stream already under way, then a whole answer.
    h.anthropicHost.setResponder(() => (++calls === 1 ? { chunks: ['Begun ', 'and never ended'], streamErrorAfter: 1 } : { chunks: ['The whole ', 'answer.'] }));
    const from = h.discord.restCalls.length;
    await h.routed((await h.discord.userSays({ channelId, content: 'Opus, a long answer please' })).id);
    await h.settled();
    const edits = h.discord.restCalls.slice(from).filter((c) => c.method === 'PATCH' && c.path.includes('/webhooks/')).map((c) => (c.body as { content?: string }).content);
    expect(edits).toContain(`Begun\n${INTERRUPTED}`);
    expect(h.discord.messages(channelId).filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual(['The whole answer.']);
  });

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

  it('posts the whole answer afresh when the webhook of its preview is deleted mid-stream, once', async () => {
    const channelId = h.discord.addChannel({ name: 'stream-webhook-gone' });
    let deleteHook!: () => void;
    const deleted = new Promise<void>((r) => (deleteHook = r));
    h.anthropicHost.setResponder(() => ({ chunks: ['The first part', ' of the answer, and the rest.'], beforeChunk: (i) => (i === 1 ? deleted : undefined) }));
    await h.discord.userSays({ channelId, content: 'Opus, a long one' });
    const preview = await h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    expect(preview.content).toBe('The first part');
    // A moderator deletes the webhook that posted the preview.
    const removed = await fetch(`${h.discord.restUrl}/v10/webhooks/${preview.webhook_id}`, { method: 'DELETE', headers: { authorization: `Bot ${h.discord.token}` } });
    expect(removed.status).toBe(204);
    deleteHook();
    await h.settled();
    const posts = personaPosts(channelId);
    expect(posts.filter((m) => m.content === 'The first part of the answer, and the rest.')).toHaveLength(1);
    expect(posts.find((m) => m.content === 'The first part of the answer, and the rest.')?.webhook_id).not.toBe(preview.webhook_id);
    expect(h.outcomes.find((o) => o.job.channelId === channelId)?.outcome.status).toBe('posted');
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


describe('streaming at the default edit interval', () => {
  let d: Harness;
  beforeAll(async () => {
    d = await startHarness({ env: { STREAM_EDIT_INTERVAL_MS: '1000' } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('costs at most 4 REST calls for a 20-token answer streamed over a second', async () => {
    const channelId = d.discord.addChannel({ name: 'budget' });
    const chunks = Array.from({ length: 20 }, (_, i) => ` t${i}`);
    d.anthropicHost.setResponder(() => ({ chunks, chunkDelayMs: 50 }));
    const first = d.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    const mark = d.discord.restCalls.length;
    await d.discord.userSays({ channelId, content: 'Opus, stream please' });
    const post = await first;
    await d.settled();
    const after = d.discord.restCalls.slice(mark);
    // What a reply costs: the preview, its edits and typing (webhook creation is once per channel).
    const spent = after.filter((c) => c.path.includes(`/channels/${channelId}/typing`) || (c.path.includes('/webhooks/') && c.path.split('/').length > 4 && (c.method === 'POST' || c.method === 'PATCH')));
    expect(spent.length).toBeGreaterThanOrEqual(2); // preview, then the full text
    expect(spent.length).toBeLessThanOrEqual(4);
    expect(d.discord.messages(channelId).find((m) => m.id === post.id)?.content).toBe(chunks.join('').trim());
  });

  it('does not edit a preview that already shows the whole answer', async () => {
    const channelId = d.discord.addChannel({ name: 'one-chunk' });
    d.anthropicHost.setResponder(() => ({ chunks: ['All of it at once.'] }));
    const first = d.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    const mark = d.discord.restCalls.length;
    await d.discord.userSays({ channelId, content: 'Opus, short answer please' });
    const post = await first;
    await d.settled();
    expect(post.content).toBe('All of it at once.');
    const edits = d.discord.restCalls.slice(mark).filter((c) => c.method === 'PATCH' && c.path.includes(`/messages/${post.id}`));
    expect(edits).toHaveLength(0);
    expect(personaPostsIn(d, channelId)).toHaveLength(1);
  });
});

describe("a model's reasoning (<think> tags in its answer)", () => {
  it('never shows in the channel, even mid-stream, nor reaches other personas; the record keeps it apart', async () => {
    const channelId = h.discord.addChannel({ name: 'reasoning' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    const mark = h.discord.restCalls.length;
    h.anthropicHost.setResponder(() => ({ chunks: ['<think>', 'The user greets me; SECRET-REASONING.', '</think>\n\n', 'Hello ', 'there!'] }));
    const posted = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, hello' });
    await posted;
    await h.settled();
    expect(personaPosts(channelId).filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual(['Hello there!']);
    const sent = JSON.stringify(h.discord.restCalls.slice(mark).map((c) => c.body ?? null));
    expect(sent).not.toContain('SECRET-REASONING');
    expect(sent).not.toContain('think>');

    // Another persona reads the answer, not the reasoning.
    h.openaiHost.setResponder(() => ({ text: 'It said hello.' }));
    const read = h.openaiHost.nextRequest();
    await h.discord.userSays({ channelId, content: 'GPT, what did Opus say?' });
    const request = JSON.stringify((await read).body);
    expect(request).toContain('Hello there!');
    expect(request).not.toContain('SECRET-REASONING');
    await h.settled();

    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const opus = (await records.events(session!.id)).find((e) => e.type === 'channel_message' && e.author.kind === 'persona' && e.author.personaId === 'opus');
    expect(opus?.type === 'channel_message' && opus.modelTurn).toMatchObject({ reasoning: 'The user greets me; SECRET-REASONING.' });
    expect(opus?.type === 'channel_message' && opus.text).toBe('Hello there!');
  });

  it('an answer its host stopped part way shows a notice in its place, which later turns do not read', async () => {
    const channelId = h.discord.addChannel({ name: 'stopped' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ chunks: ['Step one: take the ', 'HALF-SAID-PART'], stopReason: 'refusal' }));
    await h.routed((await h.discord.userSays({ channelId, content: 'Opus, how do I do the bad thing?' })).id);
    await h.settled();
    // (Its beginning may have shown while it streamed: the notice took its place.)
    expect(h.discord.messages(channelId).filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual(["*Opus's answer was stopped part way by its host's safety checks, and is not shown.*"]);
    h.anthropicHost.setResponder(() => ({ text: 'ok' }));
    const next = h.anthropicHost.nextRequest();
    await h.discord.userSays({ channelId, content: 'Opus, never mind' });
    expect(JSON.stringify((await next).body)).not.toContain('Step one');
    await h.settled();
    // The record keeps what was written, apart from what was posted.
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const stopped = (await records.events(session!.id)).find((e) => e.type === 'channel_message' && e.modelTurn?.stopReason === 'refusal');
    expect(stopped?.type === 'channel_message' && [stopped.text, stopped.modelTurn?.stoppedText]).toEqual(['', 'Step one: take the HALF-SAID-PART']);
  });

  it('an answer cut off while reasoning shows a notice saying so, not the reasoning', async () => {
    const channelId = h.discord.addChannel({ name: 'still-thinking' });
    h.anthropicHost.setResponder(() => ({ chunks: ['<think>Let me weigh this ', 'very carefully, SECRET-REASONING'], stopReason: 'max_tokens' }));
    const notice = h.discord.nextMessage((m) => m.channel_id === channelId && m.content.includes('gave no answer'));
    await h.discord.userSays({ channelId, content: 'Opus, a hard question' });
    expect((await notice).content).toBe('*Opus gave no answer: the model reached its token limit while still reasoning (a larger maxTokens leaves room for an answer).*');
    await h.settled();
    expect(JSON.stringify(h.discord.messages(channelId))).not.toContain('SECRET-REASONING');
  });

  it('an answer its token limit cut off says so under it, and the record keeps the answer and why it ended', async () => {
    const channelId = h.discord.addChannel({ name: 'cut-off' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ chunks: ['Here are three reasons. First, the cost. ', 'Second, the'], stopReason: 'max_tokens' }));
    await h.routed((await h.discord.userSays({ channelId, content: 'Opus, why?' })).id);
    await h.settled();
    expect(h.discord.messages(channelId).filter((m) => m.author.username === 'Opus').map((m) => m.content)).toEqual([
      "Here are three reasons. First, the cost. Second, the…\n-# *Opus's answer was cut off here: it reached its token limit.*",
    ]);
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const post = (await records.events(session!.id)).find((e) => e.type === 'channel_message' && e.modelTurn);
    // The mark is chorus's: the record and what models read next hold the persona's words only.
    expect(post?.type === 'channel_message' && [post.text, post.modelTurn?.stopReason]).toEqual(['Here are three reasons. First, the cost. Second, the', 'max_tokens']);
    h.anthropicHost.setResponder(() => ({ text: 'ok' }));
    const next = h.anthropicHost.nextRequest();
    await h.discord.userSays({ channelId, content: 'Opus, go on' });
    const read = JSON.stringify((await next).body);
    expect(read).toContain('Second, the');
    expect(read).not.toContain('cut off here');
    await h.settled();
  });
});

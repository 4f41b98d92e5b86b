// The record store (PostgreSQL) away — restarted, failing over — while chorus runs: a recorded
// channel goes on being answered and its records wait in Redis, written in order once the database
// is back; an interview step waits for the database without spending its tries.
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERVIEW_QUEUE } from '../../core/interview/sessions.ts';
import type { TranscriptEvent } from '../../core/transcript/events.ts';
import { openScratchDatabase, type ScratchDatabase } from '../support/scratch-database.ts';
import type { TcpProxy } from '../support/tcp-proxy.ts';
import { startHarness, type Harness } from './harness.ts';

const opt = (name: string, value: string) => ({ type: 3, name, value });

let h: Harness;
let db: ScratchDatabase;
let proxy: TcpProxy;
beforeAll(async () => {
  // chorus reaches the database only through the proxy.
  db = await openScratchDatabase('store_away');
  proxy = db.proxy;
  h = await startHarness({ env: { DATABASE_URL: db.url } });
});
afterAll(async () => {
  await h?.close();
  await db?.close();
});

/** Discord takes the next webhook post but holds its answer until `release`. */
function holdTheNextPost(): { taken: Promise<void>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let taken!: () => void;
  const tookIt = new Promise<void>((resolve) => (taken = resolve));
  h.discord.beforeRespond = (call) => {
    if (call.method !== 'POST' || !call.path.includes('/webhooks/')) return undefined;
    h.discord.beforeRespond = undefined;
    taken();
    return held;
  };
  return { taken: tookIt, release };
}

const said = (e: TranscriptEvent) => (e.type === 'channel_message' ? `${e.author.kind === 'persona' ? e.author.name : e.author.kind}: ${e.text}` : e.type);

describe('the record store away', () => {
  it('a recorded channel is answered while the database is down, and its records are written in order once it is back', async () => {
    const channelId = h.discord.addChannel({ name: 'recorded' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    await proxy.down();

    h.anthropicHost.setResponder((req) => ({ text: JSON.stringify(req.body).includes('and now') ? 'Still here, again.' : 'Still here.' }));
    for (const content of ['Opus, are you there?', 'Opus, and now?']) {
      const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
      await h.discord.userSays({ channelId, content });
      await answered;
      await h.settled();
    }
    // A question asked with /ask too.
    const asked = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.command('ask', [opt('persona', 'opus'), opt('text', 'and now?')], { channelId });
    await asked;
    await h.settled();
    // Nothing was said to be lost, and the records wait.
    expect(h.discord.messages(channelId).filter((m) => /could not|failed/i.test(m.content))).toEqual([]);
    expect(await h.stores.outbox.waiting()).toBe(6);
    // A command that needs the database says so.
    expect(await h.command('transcript', [{ type: 1, name: 'export', options: [] }], { channelId })).toBe('The transcript database cannot be reached just now, so this was not done. Try again in a moment.');

    await proxy.up();
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    expect((await records.events(session!.id)).map(said)).toEqual([
      'session_started',
      'human: Opus, are you there?',
      'Opus: Still here.',
      'human: Opus, and now?',
      'Opus: Still here, again.',
      'human: and now?',
      'Opus: Still here, again.',
    ]);
  });

  it('stopping a recording while the database is down changes nothing; stopped once it is back, its end comes after every record', async () => {
    const channelId = h.discord.addChannel({ name: 'stopped-while-away' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ text: 'Noted.' }));
    await proxy.down();
    const stop = () => h.command('transcript', [{ type: 1, name: 'stop', options: [] }], { channelId });
    expect(await stop()).toBe('The transcript database cannot be reached just now, so this was not done. Try again in a moment.');
    // Still recorded: a message after the refused stop is kept.
    const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, still recording?' });
    await answered;
    await h.settled();
    await proxy.up();
    expect(await stop()).toMatch(/^Recording stopped/);
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    expect(session?.status).toBe('ended');
    expect((await records.events(session!.id)).map(said)).toEqual(['session_started', 'human: Opus, still recording?', 'Opus: Noted.', 'session_ended']);
  });

  it("a persona's post answered while a recording ran is kept in that recording, though it was stopped before Discord's answer to the post came back", async () => {
    const channelId = h.discord.addChannel({ name: 'stopped-mid-post' });
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    h.anthropicHost.setResponder(() => ({ text: 'Said while recorded.' }));
    // Discord takes the post but its answer is held until the recording has been stopped.
    const post = holdTheNextPost();
    await h.discord.userSays({ channelId, content: 'Opus, say something for the record' });
    await post.taken;
    expect(await h.command('transcript', [{ type: 1, name: 'stop', options: [] }], { channelId })).toMatch(/^Recording stopped/);
    post.release();
    await h.settled();
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const events = await records.events(session!.id);
    expect(events.map(said)).toEqual(['session_started', 'human: Opus, say something for the record', 'session_ended', 'Opus: Said while recorded.']);
    // Its time is when Discord showed it, before the end was recorded.
    const recorded = events.find((e) => e.type === 'channel_message' && e.author.kind === 'persona')!;
    expect(Date.parse(recorded.at)).toBeLessThan(Date.parse(events.find((e) => e.type === 'session_ended')!.at));
  });

  it("a persona's post answered before a recording began is not filed in it, though Discord's answer to the post came back after", async () => {
    const channelId = h.discord.addChannel({ name: 'started-mid-post' });
    h.anthropicHost.setResponder(() => ({ text: 'Said before the recording.' }));
    const post = holdTheNextPost();
    await h.discord.userSays({ channelId, content: 'Opus, say something off the record' });
    await post.taken;
    expect(await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId })).toBe('Recording started.');
    post.release();
    await h.settled();
    h.anthropicHost.setResponder(() => ({ text: 'Said while recorded.' }));
    const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus' && m.content === 'Said while recorded.');
    await h.discord.userSays({ channelId, content: 'Opus, now on the record' });
    await answered;
    await h.settled();
    await h.recordsWritten();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    expect((await records.events(session!.id)).map(said)).toEqual(['session_started', 'human: Opus, now on the record', 'Opus: Said while recorded.']);
  });

  it('a command given again after a crash keeps its first answer when the second run finds the database down', async () => {
    const channelId = h.discord.addChannel({ name: 'replayed-start' });
    const answered = h.discord.nextRestCall((c) => c.method === 'PATCH' && /%40original|@original/.test(c.path));
    const { id, token } = await h.discord.userRunsCommand({ name: 'transcript', options: [{ type: 1, name: 'start', options: [] }], channelId });
    expect(((await answered).body as { content: string }).content).toBe('Recording started.');
    await proxy.down();
    try {
      // A new gateway process (its store not yet opened) is given the same interaction again.
      await h.restartGateway();
      const handled = h.discord.nextRestCall((c) => /%40original|@original/.test(c.path) && (c.method === 'GET' || c.method === 'PATCH'));
      h.discord.replayInteraction(token);
      await handled;
      const original = h.discord.messages(channelId).find((m) => m.interaction_metadata?.id === id);
      expect(original?.content).toBe('Recording started.');
    } finally {
      await proxy.up();
    }
  });

  it('/interview start with the database down opens no thread and says why', async () => {
    const channelId = h.discord.addChannel({ name: 'no-interview-now' });
    // The gateway has its store open (a command read it), as in a deployment that ran a while.
    expect(await h.command('transcript', [{ type: 1, name: 'export', options: [] }], { channelId })).toBe('This channel has no transcript.');
    const threadsBefore = h.discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith('/threads')).length;
    await proxy.down();
    try {
      expect(await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }], { channelId })).toBe(
        'The transcript database cannot be reached just now, so this was not done. Try again in a moment.',
      );
      expect(h.discord.restCalls.filter((c) => c.method === 'POST' && c.path.endsWith('/threads')).length).toBe(threadsBefore);
    } finally {
      await proxy.up();
    }
  });

  it('an interview step waits for the database without spending its tries, and goes on once it is back', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'OPUS-ANSWER' }));
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();

    const steps = new QueueEvents(INTERVIEW_QUEUE, { connection: { url: h.config.REDIS_URL }, prefix: h.config.CHORUS_PREFIX });
    await steps.waitUntilReady();
    const waitedMoreThanItsTries = new Promise<void>((resolve) => {
      let delayed = 0;
      steps.on('delayed', () => {
        if (++delayed > h.config.REPLY_ATTEMPTS) resolve();
      });
    });
    await proxy.down();
    const answered = h.discord.nextMessage((m) => m.channel_id === threadId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId: threadId, content: 'What will you miss?' });
    await waitedMoreThanItsTries;
    await steps.close();
    await proxy.up();
    expect((await answered).content).toBe('OPUS-ANSWER');
    await h.interviewsSettled();

    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    expect(events.filter((e) => e.type === 'question').map((e) => e.type === 'question' && e.text)).toEqual(['What will you miss?']);
    expect(events.filter((e) => e.type === 'answer').map((e) => e.type === 'answer' && e.text)).toEqual(['OPUS-ANSWER']);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
  });
});

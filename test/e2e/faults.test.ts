// Faults from outside, with real processes: workers stopped or killed with work queued, the gateway
// restarted, Redis crashed, Discord failing after it carried a post out or refusing one for good, a
// model host that keeps failing. After each: every message answered once, nothing posted twice, and
// the channel answers what is said next.
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { numberAsked } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

const exited = (child: ChildProcess): Promise<number | null> => (child.exitCode !== null ? Promise.resolve(child.exitCode) : once(child, 'exit').then(([code]) => code as number | null));
const posts = (h: Harness, channelId: string) => h.discord.messages(channelId).filter((m) => m.webhook_id !== undefined);
const said = (h: Harness, channelId: string) => posts(h, channelId).map((m) => `${m.author.username}: ${m.content}`);
/** Each model answers with the number of the message it was asked about (the last one it read). */
const echo = (req: { body: unknown }) => ({ text: `#${numberAsked(req) ?? '?'}` });

describe('work queued when a worker stops or dies', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ inProcessWorkers: 0 });
  });
  afterAll(async () => {
    await h?.close();
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`is answered, once and in order, by the next worker after ${signal}; and so is what is said next`, async () => {
      const channelId = h.discord.addChannel({ name: `deploy-${signal}` });
      let release!: () => void;
      const slow = new Promise<void>((r) => (release = r));
      // Opus takes its time (a model answering in seconds); the others answer at once.
      h.anthropicHost.setResponder((req) => ({ ...echo(req), hold: slow }));
      h.openaiHost.setResponder(echo);
      const first = await h.spawnWorker();
      const held = h.anthropicHost.nextRequest();
      await h.discord.userSays({ channelId, content: 'Opus, GPT and Base: number 1' });
      await held;
      await h.discord.userSays({ channelId, content: 'GPT, number 2' });
      await h.discord.userSays({ channelId, content: 'Base, number 3' });
      first.kill(signal);
      if (signal === 'SIGTERM') {
        // The turn in hand is finished before the worker goes.
        const opus = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
        release();
        await opus;
        expect(await exited(first)).toBe(0);
      } else {
        await exited(first);
        release();
      }
      const second = await h.spawnWorker();
      const later = h.discord.nextMessage((m) => m.channel_id === channelId && m.content === '#4');
      await h.discord.userSays({ channelId, content: 'Opus, number 4' });
      await later;
      await h.settled();
      const all = said(h, channelId);
      expect(all.toSorted()).toEqual(['Base: #1', 'Base: #3', 'GPT: #1', 'GPT: #2', 'Opus: #1', 'Opus: #4'].toSorted());
      // The answers to one message come in order, each after the one before.
      expect(all.filter((l) => l.endsWith('#1'))).toEqual(['Opus: #1', 'GPT: #1', 'Base: #1']);
      second.kill('SIGKILL');
      await exited(second);
    }, 30_000);
  }

  it('keeps work queued while the gateway restarts, and routes what is said after', async () => {
    const channelId = h.discord.addChannel({ name: 'gateway-restart' });
    h.anthropicHost.setResponder(echo);
    h.openaiHost.setResponder(echo);
    for (let i = 1; i <= 3; i++) await h.routed((await h.discord.userSays({ channelId, content: `Opus, number ${i}` })).id);
    await h.restartGateway();
    const worker = await h.spawnWorker();
    const after = h.discord.nextMessage((m) => m.channel_id === channelId && m.content === '#4');
    await h.discord.userSays({ channelId, content: 'Opus, number 4' });
    await after;
    await h.settled();
    expect(said(h, channelId).toSorted()).toEqual(['Opus: #1', 'Opus: #2', 'Opus: #3', 'Opus: #4']);
    worker.kill('SIGKILL');
    await exited(worker);
  });
});

describe('a Redis crash with work queued', () => {
  let redis: OwnRedis;
  let h: Harness;
  beforeAll(async () => {
    redis = await startOwnRedis();
    h = await startHarness({ inProcessWorkers: 0, redisUrl: redis.url });
  });
  afterAll(async () => {
    await h?.close();
    redis?.stop();
  });

  it('loses nothing (append-only file), and the channel answers what is said after', async () => {
    const channelId = h.discord.addChannel({ name: 'redis-crash' });
    h.anthropicHost.setResponder(echo);
    for (let i = 1; i <= 3; i++) await h.routed((await h.discord.userSays({ channelId, content: `Opus, number ${i}` })).id);
    await redis.crash();
    await redis.restart();
    const worker = await h.spawnWorker();
    const after = h.discord.nextMessage((m) => m.channel_id === channelId && m.content === '#4');
    await h.discord.userSays({ channelId, content: 'Opus, number 4' });
    await after;
    await h.settled();
    expect(said(h, channelId).toSorted()).toEqual(['Opus: #1', 'Opus: #2', 'Opus: #3', 'Opus: #4']);
    worker.kill('SIGKILL');
    await exited(worker);
  }, 30_000);
});

describe('Discord failing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.anthropicHost.setResponder(echo);
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    await h.settled();
  });
  const webhookPost = (c: { method: string; path: string }) => c.method === 'POST' && /\/webhooks\/\d+\/[^/]+$/.test(c.path);

  for (const [what, fault] of [
    ['answers 500 to a post it carried out', { status: 500, accept: true }],
    ['drops the connection of a post it carried out', { drop: true as const, accept: true }],
  ] as const) {
    it(`posts once when Discord ${what}`, async () => {
      const channelId = h.discord.addChannel({ name: 'lost-answer' });
      const faulted = h.discord.failNext(webhookPost, fault);
      await h.discord.userSays({ channelId, content: 'Opus, number 7' });
      await faulted;
      await h.settled();
      expect(said(h, channelId)).toEqual(['Opus: #7']);
    });
  }

  it('waits for Discord while it is away, longer than a reply has tries, and then posts the answer once, asking the model once', async () => {
    const channelId = h.discord.addChannel({ name: 'outage' });
    const asked = h.anthropicHost.requests.length;
    // Every request through a webhook (a preview, an edit, the post) gets no answer, six times: twice
    // the reply's three tries. (Before, the tries were spent in a second, the turn dropped.)
    const outage = Array.from({ length: 6 }, () => h.discord.failNext((c) => c.path.includes('/webhooks/'), { drop: true }));
    await h.discord.userSays({ channelId, content: 'Opus, number 10' });
    await Promise.all(outage);
    await h.settled();
    expect(said(h, channelId)).toEqual(['Opus: #10']);
    expect(h.discord.messages(channelId).filter((m) => m.author.id === h.discord.botUser.id)).toEqual([]);
    expect(h.anthropicHost.requests.length - asked).toBe(1);
  });

  it('tells the channel once when Discord refuses a post for good (400), and asks no more', async () => {
    const channelId = h.discord.addChannel({ name: 'refused' });
    const refused = h.discord.failNext(webhookPost, { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_BAD', message: 'bad' }] } } } });
    const notice = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.id === h.discord.botUser.id);
    await h.discord.userSays({ channelId, content: 'Opus, number 8' });
    await refused;
    expect((await notice).content).toMatch(/^Opus's reply could not be posted: Discord refused it/);
    await h.settled();
    expect(h.discord.restCalls.filter((c) => webhookPost(c) && c.status === 400)).toHaveLength(1);
    expect(posts(h, channelId)).toHaveLength(0);
    const after = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, number 9' });
    expect((await after).content).toBe('#9');
  });
});

describe('Discord back after an outage', () => {
  it('wakes the replies waiting for it as soon as it answers again, not at the end of their own backoff', async () => {
    // A backoff of a minute: only the worker's look at Discord (every few seconds) can wake the reply sooner.
    const h = await startHarness({ env: { RETRY_BACKOFF_MS: '60000' } });
    try {
      h.anthropicHost.setResponder(echo);
      const channelId = h.discord.addChannel({ name: 'back' });
      const lost = h.discord.failNext((c) => c.path.includes('/webhooks/'), { drop: true });
      const reply = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
      await h.discord.userSays({ channelId, content: 'Opus, number 11' });
      await lost;
      expect((await reply).content).toBe('#11');
    } finally {
      await h.close();
    }
  });
});

describe('Discord refusing the bot token (401)', () => {
  it('stops the worker with a clear message; the reply waits in the queue for a worker with a good token', async () => {
    const h = await startHarness({ inProcessWorkers: 0 });
    try {
      h.anthropicHost.setResponder(echo);
      const worker = await h.spawnWorker();
      let stderr = '';
      worker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const logs: { level: number; msg: string }[] = [];
      createInterface({ input: worker.stdout! }).on('line', (l) => logs.push(JSON.parse(l) as { level: number; msg: string }));
      const channelId = h.discord.addChannel({ name: 'revoked' });
      void h.discord.failNext((c) => c.method === 'GET' && c.path.endsWith(`/channels/${channelId}/webhooks`), { status: 401 });
      await h.discord.userSays({ channelId, content: 'Opus, number 5' });
      expect(await exited(worker)).toBe(1);
      expect(`${stderr}${logs.map((l) => l.msg).join('\n')}`).toMatch(/refused the bot token.*DISCORD_TOKEN/s);
      // Held back (no try counted) for a worker with a good token.
      expect(await h.stores.replies.queue.getJobCounts('delayed', 'failed')).toEqual({ delayed: 1, failed: 0 });
      expect(logs.filter((l) => l.msg.startsWith('reply job failed'))).toEqual([]);
      const next = await h.spawnWorker();
      const answered = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
      await (await h.stores.replies.queue.getJobs(['delayed']))[0]!.promote();
      expect((await answered).content).toBe('#5');
      next.kill('SIGKILL');
    } finally {
      await h.close();
    }
  });
});

describe('a model host that keeps failing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ inProcessWorkers: 0, env: { RETRY_BACKOFF_MS: '1500', REPLY_ATTEMPTS: '3' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('holds up no other message in its channel, ends in a plain notice, and no failed try is logged as an error', async () => {
    const worker = await h.spawnWorker();
    const logs: { level: number; msg: string }[] = [];
    createInterface({ input: worker.stdout! }).on('line', (l) => logs.push(JSON.parse(l) as { level: number; msg: string }));
    h.anthropicHost.setResponder(() => ({ status: 529, errorType: 'overloaded_error' }));
    h.openaiHost.setResponder(echo);
    const channelId = h.discord.addChannel({ name: 'overloaded' });
    await h.discord.userSays({ channelId, content: 'Opus, number 1' });
    const start = Date.now();
    for (let i = 2; i <= 6; i++) await h.discord.userSays({ channelId, content: `GPT, number ${i}` });
    const last = h.discord.nextMessage((m) => m.channel_id === channelId && m.content === '#6');
    await last;
    // GPT's answers did not wait for Opus's retries (1.5 s, then 3 s).
    expect(Date.now() - start).toBeLessThan(1500);
    await h.settled();
    const all = said(h, channelId);
    expect(all.at(-1)).toBe('Opus: *Opus could not answer: its model host is overloaded. Please try again in a few minutes.*');
    expect(all.filter((l) => l.startsWith('GPT'))).toHaveLength(5);
    // Passing failures are warnings; the notice is the outcome, not an error.
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    worker.kill('SIGKILL');
    await exited(worker);
  }, 30_000);
});

describe('a model host whose stream stalls mid-answer', () => {
  let h: Harness;
  let release!: () => void;
  const stalled = new Promise<void>((r) => (release = r));
  beforeAll(async () => {
    h = await startHarness({ env: { MODEL_TIMEOUT_MS: '300', STREAM_EDIT_INTERVAL_MS: '50' } });
  });
  afterAll(async () => {
    release();
    await h?.close();
  });

  it('gives the stalled request up, and the retry finishes the answer in the post already showing', async () => {
    let calls = 0;
    h.anthropicHost.setResponder(() =>
      ++calls === 1
        ? { chunks: ['The first words ', 'never come'], beforeChunk: (i) => (i === 1 ? stalled : undefined) }
        : { chunks: ['The first words ', 'and the rest.'] },
    );
    const channelId = h.discord.addChannel({ name: 'stalled' });
    const preview = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Opus');
    await h.discord.userSays({ channelId, content: 'Opus, a long answer please' });
    expect((await preview).content).toBe('The first words');
    await vi.waitFor(() => expect(said(h, channelId)).toEqual(['Opus: The first words and the rest.']), { timeout: 10_000, interval: 50 });
    await h.settled();
    expect(calls).toBe(2);
    expect(said(h, channelId)).toEqual(['Opus: The first words and the rest.']);
  });
});

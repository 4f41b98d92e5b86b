// A reply job's orchestration against the real Redis stores, with Discord and the model host as
// small fakes that fail on cue: what happens when a try dies at each awkward moment.
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { HTTPError } from '../../core/discord-rest.ts';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createChannelAccess } from '../../core/access.ts';
import type { DiscordEdge, PostedMessage } from '../../core/discord.ts';
import { createHistoryStore } from '../../core/history.ts';
import type { HostClient } from '../../core/hosts/clients.ts';
import { createLedger } from '../../core/ledger.ts';
import { createLogger } from '../../core/log.ts';
import type { ChannelMessage } from '../../core/messages.ts';
import { createReplyQueue, jobIds, type ReplyJob } from '../../core/replies.ts';
import { PersonaSchema, type Persona } from '../../personas/schema.ts';
import type { TurnOutcome } from '../../workers/reply.ts';
import { runReplyJob, type ReplyJobDeps } from '../../workers/replies.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
let prefix = '';
afterAll(async () => {
  const keys = await redis.keys('reply-job-*');
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const persona = (id: string, name: string): Persona => PersonaSchema.parse({ id, name, hosts: [{ provider: 'anthropic', model: `${id}-model`, apiKeyEnv: 'none' }] });
const personas = [persona('opus', 'Opus'), persona('gpt', 'GPT'), persona('base', 'Base')];

/** An in-memory Discord whose next post can be carried out and then fail, as a lost answer does. */
function fakeDiscord() {
  let next = 1_000_000_000_000_000_000n;
  const messages: { id: string; webhookId: string; username: string; content: string }[] = [];
  let loseNextPostAnswer = false;
  const edits: string[] = [];
  const edge: DiscordEdge = {
    latest: async () => [],
    async postAs(_channel, speaker, content) {
      const id = String((next += 1n << 22n));
      messages.push({ id, webhookId: 'w1', username: speaker.name, content });
      if (loseNextPostAnswer) {
        loseNextPostAnswer = false;
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
      }
      return { id, webhookId: 'w1' };
    },
    async editAs(_channel, posted: PostedMessage, content) {
      edits.push(content);
      const m = messages.find((x) => x.id === posted.id);
      if (m) m.content = content;
    },
    async editIfRoom(channel, posted: PostedMessage, content) {
      await this.editAs(channel, posted, content);
      return true;
    },
    typing: async () => 8_000,
    prepare: () => undefined,
    editDelay: () => 0,
    roomToStream: async () => true,
    noteWebhookWait: () => undefined,
    noteWebhookCalls: () => undefined,
    noteChannelCalls: () => undefined,
    postAsBot: async () => {
      throw new Error('not expected');
    },
    async findOwnPost(_channel, afterId, username, content) {
      const m = messages.find((x) => BigInt(x.id) > BigInt(afterId) && x.username === username && x.content === content);
      return m && { id: m.id, webhookId: m.webhookId };
    },
  };
  return { edge, messages, edits, loseNextPostAnswer: () => (loseNextPostAnswer = true) };
}

function deps(discord: DiscordEdge, answer: (personaId: string) => string | Error, overrides: Partial<ReplyJobDeps> = {}): ReplyJobDeps & { calls: string[] } {
  const calls: string[] = [];
  const client = (personaId: string): HostClient => ({
    async complete(_request, onText) {
      calls.push(personaId);
      const a = answer(personaId);
      if (a instanceof Error) throw a;
      onText?.(a);
      return { text: a, stopReason: 'end_turn', usage: { inputTokens: 10, outputTokens: 5 }, model: `${personaId}-model` };
    },
  });
  return {
    personas: new Map(personas.map((p) => [p.id, p])),
    personaList: personas,
    discord,
    ledger: createLedger(redis, prefix, 1),
    history: createHistoryStore(redis, prefix, 50),
    access: createChannelAccess(redis, prefix),
    botUserId: async () => '1',
    queue: createReplyQueue(redis, prefix, { attempts: 3, backoffMs: 100 }),
    clientFor: (host) => client(host.model.replace('-model', '')),
    maxTokens: 4000,
    maxAttempts: 3,
    backoffMs: 100,
    streamIntervalMs: 0,
    maxPerMessage: 5,
    random: () => 0.5,
    log: createLogger('test', 'silent'),
    calls,
    ...overrides,
  };
}

const trigger: ChannelMessage = { id: '900000000000000000', authorId: 'u1', authorName: 'Alice', content: 'Opus and GPT, hello', isBot: false, createdAt: new Date().toISOString() };
const settings = { roster: ['opus', 'gpt', 'base'], interjectionProbability: 0, chainDepth: 2, cooldownSeconds: 0, repliesPerMinute: 20, historyMessages: 40 };
const jobOf = (personaIds: string[]): Job<ReplyJob> =>
  ({
    id: jobIds.message(trigger.id),
    data: { v: 3, channelId: 'c1', settings, turns: personaIds.map((personaId) => ({ personaId, reason: 'named', depth: 1, trigger })), receivedAt: Date.now() },
    moveToDelayed: async () => undefined,
  }) as unknown as Job<ReplyJob>;

beforeEach(() => {
  prefix = `reply-job-${Math.random().toString(36).slice(2)}`;
});

describe('a reply job tried again after dying at an awkward moment', () => {
  it('still queues the follow-ups of a turn marked done before they were queued', async () => {
    const discord = fakeDiscord();
    let failAdd = true;
    const d = deps(discord.edge, (p) => (p === 'opus' ? 'I think Base should weigh in.' : 'ok'));
    const realAdd = d.queue.add;
    d.queue = { ...d.queue, add: (id, job, o) => (id.startsWith('after-') && failAdd ? ((failAdd = false), Promise.reject(new Error('Redis went away'))) : realAdd(id, job, o)) };
    await expect(runReplyJob(jobOf(['opus']), undefined, d, () => false)).rejects.toThrow('Redis went away');
    const result = await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(result.followUps).toBe(1);
    const followUp = await d.queue.queue.getJob(jobIds.followUps(jobIds.message(trigger.id)));
    expect(followUp?.data.turns.map((t) => t.personaId)).toEqual(['base']);
    expect(discord.messages.map((m) => m.username)).toEqual(['Opus']); // posted once
    expect(d.calls).toEqual(['opus']); // asked once
  });

  it('records the model call behind a post even when the first recording failed', async () => {
    const discord = fakeDiscord();
    const recorded: unknown[] = [];
    let failRecord = true;
    const d = deps(discord.edge, () => 'Recorded answer.', {
      onPosted: async (_place, _turn, _posts, saved) => {
        if (failRecord) {
          failRecord = false;
          throw new Error('database locked');
        }
        recorded.push(saved.modelTurn);
      },
    });
    await expect(runReplyJob(jobOf(['opus']), undefined, d, () => false)).rejects.toThrow('database locked');
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ answeredModel: 'opus-model', host: { provider: 'anthropic' }, usage: { inputTokens: 10 } });
    expect(discord.messages).toHaveLength(1);
  });

  it("keeps a post's follow-ups when it is tried again after they were claimed, however full the channel's minute", async () => {
    const discord = fakeDiscord();
    let failRecord = true;
    const d = deps(discord.edge, (p) => (p === 'opus' ? 'I think Base should weigh in.' : 'ok'), {
      onPosted: async () => {
        if (failRecord) {
          failRecord = false;
          throw new Error('database locked'); // after the follow-up to Base was claimed, before it was saved
        }
      },
    });
    const full = (personaIds: string[]): Job<ReplyJob> => {
      const job = jobOf(personaIds);
      return { ...job, data: { ...job.data, settings: { ...settings, repliesPerMinute: 1 } } } as unknown as Job<ReplyJob>;
    };
    await expect(runReplyJob(full(['opus']), undefined, d, () => false)).rejects.toThrow('database locked');
    const result = await runReplyJob(full(['opus']), undefined, d, () => false);
    expect(result.followUps).toBe(1);
    const followUp = await d.queue.queue.getJob(jobIds.followUps(jobIds.message(trigger.id)));
    expect(followUp?.data.turns.map((t) => t.personaId)).toEqual(['base']);
  });

  it('finds a post Discord carried out but whose answer was lost, instead of posting again', async () => {
    const discord = fakeDiscord();
    discord.loseNextPostAnswer();
    const d = deps(discord.edge, () => 'Said once.');
    await expect(runReplyJob(jobOf(['opus']), undefined, d, () => false)).rejects.toThrow('fetch failed');
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.content)).toEqual(['Said once.']);
    expect(await d.ledger.postOf(discord.messages[0]!.id)).toMatchObject({ personaId: 'opus' });
  });

  it('edits a streamed preview whose answer was lost into the final text, leaving no orphan', async () => {
    const discord = fakeDiscord();
    discord.loseNextPostAnswer(); // the preview's post
    const d = deps(discord.edge, () => 'A streamed answer, in full.', { streamIntervalMs: 1000 });
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.content)).toEqual(['A streamed answer, in full.']);
  });
});

describe('streaming', () => {
  /** A host that sends its answer in two parts, the second once the first has shown. */
  const twoParts = (d: ReturnType<typeof deps>, shown: () => Promise<unknown>): ReturnType<typeof deps> => ({
    ...d,
    clientFor: () => ({
      async complete(_request, onText) {
        onText?.('A streamed ');
        await shown();
        onText?.('answer, in full.');
        return { text: 'A streamed answer, in full.', stopReason: 'end_turn', usage: { inputTokens: 10, outputTokens: 5 }, model: 'opus-model' };
      },
    }),
  });

  it('shows the first words at once, then edits them into the whole answer', async () => {
    const discord = fakeDiscord();
    const d = twoParts(deps(discord.edge, () => 'unused', { streamIntervalMs: 1000 }), () => vi.waitFor(() => expect(discord.messages).toHaveLength(1)));
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.content)).toEqual(['A streamed answer, in full.']);
    expect(discord.edits).toEqual(['A streamed answer, in full.']);
  });

  it('posts the answer whole, in one request, when the channel has no room for a preview and its edits', async () => {
    const discord = fakeDiscord();
    let asked = 0;
    const edge = { ...discord.edge, roomToStream: async () => (asked++, false) };
    const d = twoParts(deps(edge, () => 'unused', { streamIntervalMs: 1000 }), () => vi.waitFor(() => expect(asked).toBe(1)));
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.content)).toEqual(['A streamed answer, in full.']);
    expect(discord.edits).toEqual([]);
  });
});

describe('a turn whose host fails in passing', () => {
  it('steps aside into a delayed job of its own, so the turns after it are answered now', async () => {
    const discord = fakeDiscord();
    const d = deps(discord.edge, (p) => (p === 'opus' ? Object.assign(new Error('Overloaded'), { status: 529 }) : 'GPT here.'));
    const result = await runReplyJob(jobOf(['opus', 'gpt']), undefined, d, () => false);
    expect(result).toEqual({ answered: 1, deferred: 1, followUps: 0 });
    expect(discord.messages.map((m) => `${m.username}: ${m.content}`)).toEqual(['GPT: GPT here.']);
    const retry = await d.queue.queue.getJob(jobIds.retry(trigger.id, 'opus', 1));
    expect(await retry?.getState()).toBe('delayed');
    expect(retry?.data.turns.map((t) => t.personaId)).toEqual(['opus']);
    // Its second try answers, and the model call it records says which try it was.
    const outcomes: TurnOutcome[] = [];
    await runReplyJob(retry!, undefined, deps(discord.edge, () => 'Opus, recovered.', { onTurn: (_job, _turn, o) => outcomes.push(o) }), () => false);
    expect(outcomes.map((o) => (o.status === 'posted' ? o.saved.modelTurn?.try : o.status))).toEqual([2]);
    // …and what its hosts did on the first try, which no host answered.
    const earlier = outcomes[0]?.status === 'posted' ? outcomes[0].saved.modelTurn?.earlierTries : undefined;
    expect(earlier).toMatchObject([{ try: 1, attempts: [{ hostIndex: 0, outcome: 'failed', status: 529 }] }]);
    expect(Number.isNaN(Date.parse(earlier![0]!.failedAt))).toBe(false);
    // Once recorded, the ledger keeps none of it.
    expect((await d.ledger.progress(trigger.id, 'opus')).failedTries).toEqual([]);
  });

  it('posts a notice in plain words on its last attempt, which no model later reads as conversation', async () => {
    const discord = fakeDiscord();
    const d = deps(discord.edge, () => Object.assign(new Error('{"type":"error","error":{"type":"overloaded_error"}} at http://10.0.0.1:8000'), { status: 529 }));
    for (let i = 0; i < 3; i++) await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.content)).toEqual(['*Opus could not answer: its model host is overloaded. Please try again in a few minutes.*']);
    const history = await d.history.recent('c1', 10);
    expect(history.map((m) => m.notice)).toEqual([true]);
    expect(await d.ledger.postOf(discord.messages[0]!.id)).toMatchObject({ notice: true });
  });
});

describe('a turn whose run meets Discord away before the model is asked', () => {
  it('gives back the try it counted: after the outage its first model call is its first try', async () => {
    const discord = fakeDiscord();
    let away = 2;
    // The history is read from Discord (a channel new to chorus), and Discord answers 503, twice.
    const edge = { ...discord.edge, latest: async () => (away-- > 0 ? Promise.reject(new HTTPError(503, 'Service Unavailable', 'GET', '/channels/c1/messages', { body: undefined, files: undefined })) : []) };
    const d = deps(edge, () => 'Opus, after the outage.');
    for (let i = 0; i < 2; i++) await expect(runReplyJob(jobOf(['opus']), undefined, d, () => false)).rejects.toBeInstanceOf(HTTPError);
    expect((await d.ledger.progress(trigger.id, 'opus')).attempts).toBe(0);
    const outcomes: TurnOutcome[] = [];
    await runReplyJob(jobOf(['opus']), undefined, { ...d, onTurn: (_job, _turn, o) => outcomes.push(o) }, () => false);
    expect(outcomes.map((o) => (o.status === 'posted' ? o.saved.modelTurn?.try : o.status))).toEqual([1]);
  });
});

describe('a turn for a persona this worker does not know', () => {
  it('is tried again later, so a worker that knows it (a deploy that added it) answers; dropped once the tries are spent', async () => {
    const discord = fakeDiscord();
    const newcomer = persona('newcomer', 'Newcomer');
    const old = deps(discord.edge, () => 'never');
    // A worker that has not read the new persona's file yet.
    expect(await runReplyJob(jobOf(['newcomer', 'gpt']), undefined, old, () => false)).toEqual({ answered: 1, deferred: 1, followUps: 0 });
    const retry = await old.queue.queue.getJob(jobIds.retry(trigger.id, 'newcomer', 1));
    expect(retry?.data.turns.map((t) => t.personaId)).toEqual(['newcomer']);
    // The worker after the deploy knows it.
    const known: TurnOutcome[] = [];
    const current = deps(discord.edge, () => 'Newcomer here.', { personas: new Map([...personas, newcomer].map((p) => [p.id, p])), personaList: [...personas, newcomer], onTurn: (_job, _turn, o) => known.push(o) });
    expect(await runReplyJob(retry!, undefined, current, () => false)).toEqual({ answered: 1, deferred: 0, followUps: 0 });
    // Its first try: the runs that did not know it spent none of the turn's own.
    expect(known.map((o) => (o.status === 'posted' ? o.saved.modelTurn?.try : o.status))).toEqual([1]);
    expect(discord.messages.map((m) => `${m.username}: ${m.content}`)).toEqual(['GPT: never', 'Newcomer: Newcomer here.']);
    // No worker knows it: the tries are spent, and then it is let go.
    const outcomes: string[] = [];
    const lost = deps(discord.edge, () => 'never', { onTurn: (_job, _turn, outcome) => outcomes.push(outcome.status) });
    const orphan = { ...trigger, id: '900000000000000001' };
    const job = { ...jobOf(['ghost']), data: { ...jobOf(['ghost']).data, turns: [{ personaId: 'ghost', reason: 'named' as const, depth: 1, trigger: orphan }] } } as Job<ReplyJob>;
    for (let i = 0; i < 4; i++) await runReplyJob(job, undefined, lost, () => false);
    expect(outcomes).toEqual(['retry-later', 'retry-later', 'unknown-persona', 'already-answered']);
  });
});

describe("what later turns read of a persona's post", () => {
  it('never holds raw mention syntax a model could echo as a ping', async () => {
    const discord = fakeDiscord();
    const d = deps(discord.edge, () => 'Thanks <@123456789012345678> and <@&223456789012345678>, see <#323456789012345678>.');
    await runReplyJob(jobOf(['opus']), undefined, d, () => false);
    const [post] = await d.history.recent('c1', 10);
    expect(post?.content).toBe('Thanks @unknown-user and @unknown-role, see #channel.');
  });
});

describe('a worker asked to stop', () => {
  it('finishes the turn in hand and hands the rest of the job back', async () => {
    const discord = fakeDiscord();
    const d = deps(discord.edge, (p) => `${p} answered`);
    let movedBack = false;
    const job = { ...jobOf(['opus', 'gpt', 'base']), moveToDelayed: async () => void (movedBack = true) } as unknown as Job<ReplyJob>;
    let stopping = false;
    d.onTurn = () => (stopping = true); // the stop arrives while the first turn is answered
    await expect(runReplyJob(job, 'token', d, () => stopping)).rejects.toThrow();
    expect(movedBack).toBe(true);
    expect(discord.messages.map((m) => m.username)).toEqual(['Opus']);
    // The next worker carries on from the ledger: Opus is not asked again.
    d.onTurn = undefined;
    await runReplyJob(jobOf(['opus', 'gpt', 'base']), undefined, d, () => false);
    expect(discord.messages.map((m) => m.username)).toEqual(['Opus', 'GPT', 'Base']);
    expect(d.calls).toEqual(['opus', 'gpt', 'base']);
  });
});

// Workers die; replies must not be lost or doubled. Workers here are real processes, killed
// with SIGKILL, so nothing gets a chance to clean up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, type ReplyJob } from '../../core/replies.ts';
import type { StandInMessage } from '../../local-discord/server.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 0 });
});
afterAll(async () => {
  await h?.close();
});

const opusPostsAfter = (triggerId: string) =>
  h.discord.messages().filter((m) => m.webhook_id !== undefined && m.author.username === 'Opus' && BigInt(m.id) > BigInt(triggerId));

function exited(child: { once(e: 'exit', f: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('a worker killed mid-job', () => {
  it('is replaced and the reply still arrives, once, when the kill lands during the model call', async () => {
    let calls = 0;
    const never = new Promise<void>(() => {});
    h.anthropicHost.setResponder(() => (++calls === 1 ? { text: 'lost', hold: never } : { text: 'Survived the crash.' }));
    const first = await h.spawnWorker();
    const held = h.anthropicHost.nextRequest();
    const trigger = await h.discord.userSays({ content: 'Opus, are you there?' });
    await held;
    const gone = exited(first);
    first.kill('SIGKILL');
    await gone;

    const post = h.discord.nextMessage((m) => m.author.username === 'Opus');
    const second = await h.spawnWorker();
    expect((await post).content).toBe('Survived the crash.');
    await h.settled();
    expect(opusPostsAfter(trigger.id).map((m) => m.content)).toEqual(['Survived the crash.']);
    expect(calls).toBe(2);
    second.kill('SIGKILL');
    await exited(second);
  });

  it('does not post twice when the kill lands after Discord took the post but before the worker heard back', async () => {
    let calls = 0;
    h.anthropicHost.setResponder(() => {
      calls += 1;
      return { text: 'Posted exactly once.' };
    });
    let posted!: (m: void) => void;
    const webhookTookIt = new Promise<void>((r) => (posted = r));
    h.discord.beforeRespond = (call) => {
      if (call.method === 'POST' && call.path.includes('/webhooks/') && call.status === 200) {
        posted();
        return new Promise<void>(() => {}); // the answer never reaches this worker
      }
    };
    const first = await h.spawnWorker();
    const trigger = await h.discord.userSays({ content: 'Opus, say it once' });
    await webhookTookIt;
    h.discord.beforeRespond = undefined;
    const gone = exited(first);
    first.kill('SIGKILL');
    await gone;
    expect(opusPostsAfter(trigger.id)).toHaveLength(1);

    const second = await h.spawnWorker();
    await h.settled();
    expect(opusPostsAfter(trigger.id).map((m) => m.content)).toEqual(['Posted exactly once.']);
    // The answer was saved before posting: the retry did not ask the model again.
    expect(calls).toBe(1);
    // And the post is remembered as Opus's, so replies to it reach Opus.
    expect(await h.gateway.services.ledger.postOf(opusPostsAfter(trigger.id)[0]!.id)).toEqual({ personaId: 'opus', depth: 1, notice: false });
    second.kill('SIGKILL');
    await exited(second);
  });
});

describe('idempotency', () => {
  it('answers a (message, persona) once even when the job is enqueued again', async () => {
    h.anthropicHost.setResponder(() => ({ text: 'Only once.' }));
    const worker = h.addWorker();
    const post = h.discord.nextMessage((m: StandInMessage) => m.author.username === 'Opus');
    const trigger = await h.discord.userSays({ content: 'Opus, once please' });
    await post;
    await h.settled();

    const job: ReplyJob = {
      v: 3,
      channelId: h.discord.channelId,
      settings: (await h.gateway.services.settings.resolve({ channelId: h.discord.channelId })).values,
      turns: [{ personaId: 'opus', reason: 'named', depth: 1, trigger: { id: trigger.id, authorId: trigger.author.id, authorName: 'Alice', content: trigger.content, isBot: false, createdAt: trigger.timestamp } }],
      receivedAt: Date.now(),
    };
    // The same message routed again, as after a gateway resume replays the event: the same job id, ignored.
    await h.gateway.services.replies.add(jobIds.message(trigger.id), job);
    expect(await h.gateway.services.replies.queue.getJobCounts('wait', 'active', 'delayed')).toEqual({ wait: 0, active: 0, delayed: 0 });
    // Even under another id (the finished job's id expired), the reply ledger refuses to answer twice.
    await h.gateway.services.replies.add(`again-${trigger.id}`, job);
    await h.settled();
    expect(opusPostsAfter(trigger.id).map((m) => m.content)).toEqual(['Only once.']);
    expect(h.anthropicHost.requests.filter((r) => JSON.stringify(r.body).includes('once please'))).toHaveLength(1);
    await worker.close();
  });
});

describe('graceful stop', () => {
  it('a worker given SIGTERM finishes the reply in hand, then exits cleanly', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.anthropicHost.setResponder(() => ({ text: 'Finished before stopping.', hold: gate }));
    const worker = await h.spawnWorker();
    const held = h.anthropicHost.nextRequest();
    const trigger = await h.discord.userSays({ content: 'Opus, one last thing' });
    await held;
    const exit = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.kill('SIGTERM');
    const post = h.discord.nextMessage((m) => m.author.username === 'Opus');
    release();
    expect((await post).content).toBe('Finished before stopping.');
    expect(await exit).toBe(0);
    expect(opusPostsAfter(trigger.id)).toHaveLength(1);
    await h.settled();
  });
});

describe('a worker killed during an interview', () => {
  const opt = (name: string, value: string) => ({ type: 3, name, value });

  it('loses no answer and doubles none, whether killed during the model call or after Discord took the post', async () => {
    const never = new Promise<void>(() => {});
    let opusCalls = 0;
    let gptCalls = 0;
    h.anthropicHost.setResponder(() => (++opusCalls === 1 ? { text: 'lost', hold: never } : { text: 'Opus answers once.' }));
    h.openaiHost.setResponder(() => ({ text: `GPT answers once (${++gptCalls}).` }));
    let first = await h.spawnWorker();
    const held = h.anthropicHost.nextRequest();
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'retirement'), opt('personas', 'opus,gpt'), opt('mode', 'sequential')] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    expect(threadId).not.toBe('');

    // Question 1: the worker dies while Opus's model call is in flight.
    await h.discord.userSays({ channelId: threadId, content: 'What is your name?' });
    await held;
    let gone = exited(first);
    first.kill('SIGKILL');
    await gone;
    const second = await h.spawnWorker();
    await h.interviewsSettled();

    // Question 2: the worker dies after Discord took GPT's post, before it heard back.
    let tookIt!: () => void;
    const webhookTookIt = new Promise<void>((r) => (tookIt = r));
    h.discord.beforeRespond = (call) => {
      if (call.method === 'POST' && call.path.includes('/webhooks/') && call.status === 200 && String(JSON.stringify(call.body ?? '')).includes('GPT answers once')) {
        tookIt();
        return never;
      }
    };
    await h.discord.userSays({ channelId: threadId, content: 'What will you miss?' });
    await webhookTookIt;
    h.discord.beforeRespond = undefined;
    gone = exited(second);
    second.kill('SIGKILL');
    await gone;
    first = await h.spawnWorker();
    await h.interviewsSettled();

    const answers = h.discord.messages(threadId).filter((m) => m.webhook_id !== undefined).map((m) => `${m.author.username}: ${m.content}`);
    expect(answers).toEqual(['Opus: Opus answers once.', 'GPT: GPT answers once (1).', 'Opus: Opus answers once.', 'GPT: GPT answers once (2).']);
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    const questions = events.flatMap((e) => (e.type === 'question' ? [e.id] : []));
    const answered = events.flatMap((e) => (e.type === 'answer' ? [`${questions.indexOf(e.questionId) + 1}:${e.persona.personaId}`] : []));
    expect(answered).toEqual(['1:opus', '1:gpt', '2:opus', '2:gpt']);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
    first.kill('SIGKILL');
    await exited(first);
  }, 60_000);
});

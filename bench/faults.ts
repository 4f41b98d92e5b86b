// `npm run faults`: chorus under ordinary faults, with real processes against the local Discord and
// model hosts that take their time (a reply streams over ~1.5 s). Each scenario sends messages,
// does something unkind, sends more, and counts: replies posted, lost, doubled, orphaned previews,
// stalled interview sessions, the invalid requests Discord counts toward its ban, and the time from
// the fault to the first reply after it. Prints a table; asserts nothing.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startOwnRedis } from '../test/support/redis-server.ts';
import { openScratchDatabase } from '../test/support/scratch-database.ts';
import { startHarness, type Harness, type HarnessOptions } from '../test/e2e/harness.ts';
import { numberAsked, type RecordedRequest } from '../test/stand-ins/model-host.ts';
import { personaPosts } from './measure.ts';

interface Row {
  scenario: string;
  sent: number;
  replies: number;
  lost: number;
  doubled: number;
  orphaned: number;
  stalled: number | '';
  invalid: string;
  recoverMs: number | '';
  /** Records of a recorded channel missing from the transcript, or out of order ('' where none is kept). */
  recordsLost?: number | '';
}

const WORDS = ['the', 'answer', 'comes', 'in', 'a', 'few', 'words'];
/** A model answering message N with "#N the answer comes in a few words", streamed over ~1.5 s. */
function slowEcho(req: RecordedRequest) {
  const n = numberAsked(req) ?? '?';
  return { chunks: [`#${n} `, ...WORDS.map((w) => `${w} `)], chunkDelayMs: 200 };
}
const finalText = (n: number) => `#${n} ${WORDS.join(' ')}`;

const exited = (child: ChildProcess) => (child.exitCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const h = await startHarness({
    inProcessWorkers: 0,
    ...opts,
    // chorus's defaults (crash recovery, retries, gateway lease), streaming on.
    env: { STREAM_EDIT_INTERVAL_MS: '1000', RETRY_BACKOFF_MS: '2000', REPLY_ATTEMPTS: '4', JOB_LOCK_MS: '8000', STALLED_CHECK_MS: '2000', GATEWAY_LEASE_MS: '15000', PERSONA_COOLDOWN_SECONDS: '0', ...opts.env },
  });
  h.anthropicHost.setResponder(slowEcho);
  h.openaiHost.setResponder(slowEcho);
  return h;
}

/** Counts what each numbered message got in the channel: its final answer, or a notice standing in. */
function count(h: Harness, channelId: string, numbers: number[]): Pick<Row, 'replies' | 'lost' | 'doubled' | 'orphaned'> {
  // (An answer to a slash command is a webhook message too: not a persona's.)
  const posts = personaPosts(h.discord.messages(channelId).filter((m) => !m.interaction_metadata), h.discord.botUser.id);
  const finals = (n: number) => posts.filter((p) => p.content === finalText(n)).length;
  const notices = posts.filter((p) => p.content.includes('could not answer')).length;
  const unanswered = numbers.filter((n) => finals(n) === 0).length;
  return {
    replies: posts.length,
    lost: Math.max(0, unanswered - notices),
    doubled: numbers.filter((n) => finals(n) > 1).length,
    // A post that began an answer but never became one: a preview left behind.
    orphaned: posts.filter((p) => /^#\d+ /.test(p.content) && !numbers.some((n) => p.content === finalText(n))).length,
  };
}

function invalid(h: Harness): string {
  const total = h.discord.restCalls.length;
  const bad = h.discord.invalidRequests();
  return `${bad}/${total} (${total ? ((100 * bad) / total).toFixed(2) : '0.00'}%)`;
}

/** Sends "Opus, number N" for each n, optionally waiting between them. */
async function say(h: Harness, channelId: string, numbers: number[], gapMs = 0, name = 'Opus'): Promise<void> {
  for (const n of numbers) {
    await h.discord.userSays({ channelId, content: `${name}, number ${n}` });
    if (gapMs) await sleep(gapMs);
  }
}

/** Resolves with the time message n's whole answer shows in the channel (posted, or a preview edited into it). */
async function answerShown(h: Harness, channelId: string, n: number): Promise<number> {
  for (;;) {
    if (personaPosts(h.discord.messages(channelId), h.discord.botUser.id).some((m) => m.content === finalText(n))) return Date.now();
    await sleep(20);
  }
}

async function settle(h: Harness): Promise<void> {
  await h.settled();
  await sleep(300);
  await h.settled();
}

async function killedWorker(moment: 'before-model' | 'mid-stream' | 'after-post'): Promise<Omit<Row, 'scenario'>> {
  const h = await harness();
  try {
    const channelId = h.discord.addChannel({ name: `kill-${moment}` });
    const first = await h.spawnWorker();
    const numbers = [1, 2, 3];
    let killedAt = 0;
    if (moment === 'before-model') {
      await say(h, channelId, [1]);
      for (;;) {
        if (((await h.stores.replies.queue.getJobCounts('active')).active ?? 0) > 0) break;
        await sleep(2);
      }
    } else if (moment === 'mid-stream') {
      const preview = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id !== undefined);
      await say(h, channelId, [1]);
      await preview;
    } else {
      let taken!: () => void;
      const tookIt = new Promise<void>((r) => (taken = r));
      h.discord.beforeRespond = (call) => {
        if (call.method === 'PATCH' && call.path.includes('/webhooks/') && call.status === 200) {
          taken();
          return new Promise<void>(() => {}); // the answer never reaches the worker
        }
      };
      await say(h, channelId, [1]);
      await tookIt;
      h.discord.beforeRespond = undefined;
    }
    first.kill('SIGKILL');
    killedAt = Date.now();
    await exited(first);
    const recovered = answerShown(h, channelId, 1);
    const second = await h.spawnWorker();
    await say(h, channelId, [2, 3]);
    const recoverMs = (await recovered) - killedAt;
    await settle(h);
    second.kill('SIGKILL');
    return { sent: numbers.length, ...count(h, channelId, numbers), stalled: '', invalid: invalid(h), recoverMs };
  } finally {
    await h.close();
  }
}

async function sigtermWithQueue(): Promise<Omit<Row, 'scenario'>> {
  const h = await harness();
  try {
    const channelId = h.discord.addChannel({ name: 'sigterm' });
    const first = await h.spawnWorker();
    const preview = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id !== undefined);
    await h.discord.userSays({ channelId, content: 'Opus, GPT and Legacy: number 1' });
    await say(h, channelId, [2, 3, 4], 0, 'GPT');
    await preview;
    first.kill('SIGTERM');
    const stoppedAt = Date.now();
    await exited(first);
    const recovered = answerShown(h, channelId, 5);
    const second = await h.spawnWorker();
    await say(h, channelId, [5]);
    const recoverMs = (await recovered) - stoppedAt;
    await settle(h);
    second.kill('SIGKILL');
    // Message 1 has three answers (one per persona), the rest one each.
    const posts = personaPosts(h.discord.messages(channelId), h.discord.botUser.id);
    const ones = posts.filter((p) => p.content === finalText(1)).length;
    const rest = count(h, channelId, [2, 3, 4, 5]);
    const orphaned = count(h, channelId, [1, 2, 3, 4, 5]).orphaned;
    return { sent: 5, replies: posts.length, lost: rest.lost + Math.max(0, 3 - ones), doubled: rest.doubled + (ones > 3 ? 1 : 0), orphaned, stalled: '', invalid: invalid(h), recoverMs };
  } finally {
    await h.close();
  }
}

async function twoWorkersOneDies(): Promise<Omit<Row, 'scenario'>> {
  const h = await harness();
  try {
    const channelId = h.discord.addChannel({ name: 'two-workers' });
    const [a, b] = await Promise.all([h.spawnWorker(), h.spawnWorker()]);
    const numbers = Array.from({ length: 10 }, (_, i) => i + 1);
    await say(h, channelId, numbers.slice(0, 6), 50);
    await sleep(400);
    a.kill('SIGKILL');
    const killedAt = Date.now();
    const recovered = Promise.all(numbers.slice(0, 6).map((n) => answerShown(h, channelId, n))).then((times) => Math.max(...times));
    await say(h, channelId, numbers.slice(6), 50);
    const recoverMs = (await recovered) - killedAt;
    await settle(h);
    b.kill('SIGKILL');
    return { sent: numbers.length, ...count(h, channelId, numbers), stalled: '', invalid: invalid(h), recoverMs };
  } finally {
    await h.close();
  }
}

async function gatewayKilled(): Promise<Omit<Row, 'scenario'>> {
  const h = await harness({ inProcessGateway: false });
  try {
    const worker = await h.spawnWorker();
    const first = await h.spawnGateway();
    const channelId = h.discord.addChannel({ name: 'gateway-kill' });
    await say(h, channelId, [1]);
    await sleep(300);
    first.kill('SIGKILL');
    const killedAt = Date.now();
    await exited(first);
    await say(h, channelId, [2, 3, 4, 5, 6], 2000); // 10 s of people talking to nobody
    const recovered = answerShown(h, channelId, 2);
    const second = await h.spawnGateway();
    const recoverMs = (await recovered) - killedAt;
    await settle(h);
    second.kill('SIGTERM');
    worker.kill('SIGKILL');
    return { sent: 6, ...count(h, channelId, [1, 2, 3, 4, 5, 6]), stalled: '', invalid: invalid(h), recoverMs };
  } finally {
    await h.close();
  }
}

async function redisRestart(): Promise<Omit<Row, 'scenario'>> {
  const redis = await startOwnRedis();
  const h = await harness({ redisUrl: redis.url });
  try {
    const channelId = h.discord.addChannel({ name: 'redis-restart' });
    await say(h, channelId, [1, 2, 3]);
    await sleep(200);
    await redis.crash();
    await redis.restart();
    const restartedAt = Date.now();
    const recovered = answerShown(h, channelId, 1);
    const worker = await h.spawnWorker();
    await say(h, channelId, [4, 5]);
    const recoverMs = (await recovered) - restartedAt;
    await settle(h);
    worker.kill('SIGKILL');
    return { sent: 5, ...count(h, channelId, [1, 2, 3, 4, 5]), stalled: '', invalid: invalid(h), recoverMs };
  } finally {
    await h.close();
    redis.stop();
  }
}

async function discordLosesAnswers(): Promise<Omit<Row, 'scenario'>> {
  const h = await harness();
  try {
    const channelId = h.discord.addChannel({ name: 'lost-answers' });
    const worker = await h.spawnWorker();
    const webhookCall = (c: { method: string; path: string }) => c.path.includes('/webhooks/') && (c.method === 'POST' || c.method === 'PATCH');
    void h.discord.failNext(webhookCall, { status: 500, accept: true });
    void h.discord.failNext(webhookCall, { drop: true, accept: true });
    await say(h, channelId, [1, 2, 3, 4], 300);
    await settle(h);
    worker.kill('SIGKILL');
    return { sent: 4, ...count(h, channelId, [1, 2, 3, 4]), stalled: '', invalid: invalid(h), recoverMs: '' };
  } finally {
    await h.close();
  }
}

async function rateLimited(): Promise<Omit<Row, 'scenario'>> {
  const h = await harness({ enforceRateLimits: true });
  try {
    const channelId = h.discord.addChannel({ name: 'rate-limited' });
    const workers = await Promise.all([h.spawnWorker(), h.spawnWorker(), h.spawnWorker()]);
    // 40 in one channel: past the 30 webhook posts a minute Discord takes into a channel, so the
    // gate meets that limit, holds the channel and learns it; the refused posts are sent again.
    const numbers = Array.from({ length: 40 }, (_, i) => i + 1);
    await say(h, channelId, numbers);
    await settle(h);
    if (process.env.FAULTS_DEBUG) {
      const hook = h.discord.restCalls.find((c) => c.status === 429)?.path.split('/')[4];
      console.error(h.discord.restCalls.filter((c) => hook && c.path.includes(hook)).map((c) => `${c.method} ${c.status} at ${c.at % 100000}`).join('\n'));
    }
    for (const w of workers) w.kill('SIGKILL');
    return { sent: numbers.length, ...count(h, channelId, numbers), stalled: '', invalid: invalid(h), recoverMs: '' };
  } finally {
    await h.close();
  }
}

async function hostFails(how: 'overloaded-10s' | 'down'): Promise<Omit<Row, 'scenario'>> {
  const h = await harness();
  try {
    const channelId = h.discord.addChannel({ name: `host-${how}` });
    const until = Date.now() + 10_000;
    h.anthropicHost.setResponder((req) => (how === 'down' || Date.now() < until ? { status: 529, errorType: 'overloaded_error' } : slowEcho(req)));
    const worker = await h.spawnWorker();
    await say(h, channelId, [1, 2, 3], 1000);
    const recoverMs = how === 'down' ? '' : (await answerShown(h, channelId, 1)) - until;
    await settle(h);
    worker.kill('SIGKILL');
    return { sent: 3, ...count(h, channelId, [1, 2, 3]), stalled: '', invalid: invalid(h), recoverMs: recoverMs === '' ? '' : Math.max(0, recoverMs) };
  } finally {
    await h.close();
  }
}

async function interviewHostFails(how: 'overloaded-10s' | 'down'): Promise<Omit<Row, 'scenario'>> {
  const h = await harness({ inProcessWorkers: 0 });
  try {
    const until = Date.now() + 10_000;
    h.anthropicHost.setResponder((req) => (how === 'down' || Date.now() < until ? { status: 529, errorType: 'overloaded_error' } : { text: `answer ${req.body ? 'ok' : ''}` }));
    h.openaiHost.setResponder(() => ({ text: 'GPT answers.' }));
    const worker = await h.spawnWorker();
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [{ type: 3, name: 'protocol', value: 'retirement' }, { type: 3, name: 'personas', value: 'opus,gpt' }] }]);
    const threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    for (const q of ['First?', 'Second?']) {
      await h.routed((await h.discord.userSays({ channelId: threadId, content: q })).id);
      const deadline = Date.now() + 60_000;
      // Wait for the round to finish (answers or recorded errors for both personas).
      for (;;) {
        const records = await h.records();
        const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
        const events = await records.events(session!.id);
        // This question's own record: the one before it may be complete while this one is still queued.
        const question = events.find((e) => e.type === 'question' && e.text === q);
        const done = events.filter((e) => (e.type === 'answer' || e.type === 'error') && e.questionId === question?.id).length;
        if ((question && done >= 2) || Date.now() > deadline) break;
        await sleep(200);
      }
    }
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    const events = await records.events(session!.id);
    const questions = events.filter((e) => e.type === 'question');
    // A question never recorded counts as stalled too: the session did not take it.
    const stalled = 2 - questions.length + questions.filter((q) => events.filter((e) => (e.type === 'answer' || e.type === 'error') && e.questionId === q.id).length < 2).length;
    const answers = events.filter((e) => e.type === 'answer').length;
    worker.kill('SIGKILL');
    return { sent: 2, replies: answers, lost: 0, doubled: 0, orphaned: 0, stalled: stalled ? 1 : 0, invalid: invalid(h), recoverMs: '' };
  } finally {
    await h.close();
  }
}

/**
 * PostgreSQL away for 10 s (every connection reset, new ones refused, as a restart does) while a
 * recorded channel talks: replies counted as elsewhere, and the transcript checked once the database
 * is back (every message and answer recorded once, in the channel's order). Time to recover: from
 * the database back to every waiting record written.
 */
async function databaseDown(): Promise<Omit<Row, 'scenario'>> {
  const db = await openScratchDatabase('faults_db');
  const proxy = db.proxy;
  const h = await harness({ env: { DATABASE_URL: db.url } });
  try {
    const worker = await h.spawnWorker();
    const channelId = h.discord.addChannel({ name: 'database-down' });
    await h.command('transcript', [{ type: 1, name: 'start', options: [] }], { channelId });
    const numbers = [1, 2, 3, 4, 5, 6, 7];
    await say(h, channelId, [1, 2], 500);
    await proxy.down();
    await say(h, channelId, [3, 4, 5, 6, 7], 2000); // 10 s away
    await proxy.up();
    const backAt = Date.now();
    while ((await h.stores.outbox.waiting()) > 0) await sleep(50);
    const recoverMs = Date.now() - backAt;
    await settle(h);
    while ((await h.stores.outbox.waiting()) > 0) await sleep(50);
    worker.kill('SIGKILL');
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'channel', channelId });
    const recorded = (await records.events(session!.id)).flatMap((e) => (e.type === 'channel_message' ? [e] : []));
    // Each question and each answer recorded once; the questions in the order they were asked, the
    // answers in the order they were finished (a streamed answer is recorded once it is whole).
    const expected = numbers.flatMap((n) => [`Opus, number ${n}`, finalText(n)]);
    const kept = expected.filter((text) => recorded.filter((e) => e.text === text).length === 1);
    const outOfOrder = (kind: string) => {
      const ids = recorded.filter((e) => e.author.kind === kind).map((e) => BigInt(e.discordMessageId));
      return ids.filter((id, i) => i > 0 && id < ids[i - 1]!).length;
    };
    const recordsLost = expected.length - kept.length + outOfOrder('human') + outOfOrder('persona');
    return { sent: numbers.length, ...count(h, channelId, numbers), stalled: '', invalid: invalid(h), recoverMs, recordsLost };
  } finally {
    await h.close();
    await db.close();
  }
}

const SCENARIOS: [string, () => Promise<Omit<Row, 'scenario'>>][] = [
  ['worker SIGKILL before the model call', () => killedWorker('before-model')],
  ['worker SIGKILL mid-stream', () => killedWorker('mid-stream')],
  ['worker SIGKILL after the post, before recording', () => killedWorker('after-post')],
  ['worker SIGTERM with 3 turns queued', sigtermWithQueue],
  ['two workers, one killed', twoWorkersOneDies],
  ['gateway SIGKILL, 10 s outage', gatewayKilled],
  ['Redis crash and restart (AOF)', redisRestart],
  ['Discord 500 / timeout on a post it took', discordLosesAnswers],
  ['Discord rate limits (429s; 40 posts in a channel that takes 30 a minute), 3 workers', rateLimited],
  ['host overloaded for 10 s (channel)', () => hostFails('overloaded-10s')],
  ['host down for good (channel)', () => hostFails('down')],
  ['host overloaded for 10 s (interview)', () => interviewHostFails('overloaded-10s')],
  ['host down for good (interview)', () => interviewHostFails('down')],
  ['PostgreSQL down 10 s (recorded channel)', databaseDown],
];

const only = process.env.FAULTS_ONLY;
const rows: Row[] = [];
for (const [scenario, run] of SCENARIOS) {
  if (only && !only.split('|').some((part) => scenario.includes(part))) continue;
  const started = Date.now();
  try {
    rows.push({ scenario, ...(await run()) });
  } catch (err) {
    rows.push({ scenario: `${scenario} — FAILED: ${(err as Error).message}`, sent: 0, replies: 0, lost: 0, doubled: 0, orphaned: 0, stalled: '', invalid: '', recoverMs: '' });
  }
  console.error(`  ${scenario}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const header = ['scenario', 'sent', 'replies', 'lost', 'doubled', 'orphaned previews', 'stalled sessions', 'records lost', 'invalid Discord requests', 'time to recover'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const r of rows) {
  console.log(`| ${r.scenario} | ${r.sent} | ${r.replies} | ${r.lost} | ${r.doubled} | ${r.orphaned} | ${r.stalled} | ${r.recordsLost ?? ''} | ${r.invalid} | ${r.recoverMs === '' ? '' : `${(r.recoverMs / 1000).toFixed(1)} s`} |`);
}
process.exit(0);

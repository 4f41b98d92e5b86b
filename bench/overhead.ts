// What chorus adds between Discord and the model: the time from the gateway receiving a message to
// the model host receiving its request, beside BullMQ's own hop (add → worker start), a Redis round
// trip and a direct-call bot measured in the same run. `node bench/overhead.ts` prints the bench's
// section 1; bench.ts runs it so, in a process of its own (see overheadSection).
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startHarness } from '../test/e2e/harness.ts';
import { measureDirectBot } from './direct-bot.ts';
import { fmtMs, now, percentile } from './measure.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** BullMQ alone, one process: the time from `add` to the processor starting. */
export async function bullmqHop(samples: number, paceMs: number): Promise<number[]> {
  const prefix = `bench-hop-${process.pid}-${Date.now().toString(36)}`;
  const queue = new Queue('hop', { connection: { url: REDIS_URL }, prefix });
  const hops: number[] = [];
  let done!: () => void;
  let arrived = new Promise<void>((r) => (done = r));
  const worker = new Worker('hop', async (job) => {
    hops.push(now() - (job.data as { at: number }).at);
    done();
  }, { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix, concurrency: 200 });
  await worker.waitUntilReady();
  for (let i = 0; i < samples; i++) {
    arrived = new Promise<void>((r) => (done = r));
    await queue.add('hop', { at: now() }, { removeOnComplete: true });
    await arrived;
    await new Promise((r) => setTimeout(r, paceMs));
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return hops;
}

/**
 * One Redis round trip (PING) at the same pace: what each crossing between processes costs on this
 * machine when it idles between messages, as the overhead sections do (waking a process that slept
 * costs more than answering a busy one).
 */
export async function redisRoundTrip(samples: number, paceMs: number): Promise<number[]> {
  const redis = new Redis(REDIS_URL);
  const trips: number[] = [];
  await redis.ping();
  for (let i = 0; i < samples; i++) {
    await new Promise((r) => setTimeout(r, paceMs));
    const at = now();
    await redis.ping();
    trips.push(now() - at);
  }
  await redis.quit();
  return trips;
}

/**
 * chorus, gateway and worker in this process: gateway receives → model host receives the request.
 * Each message is awaited until its turn is done (the harness's turn observer), not with a listener
 * on every job event: that would share this process's CPU with chorus, and the hop beside it has none.
 */
export async function chorusAddedLatency(samples: number, paceMs: number): Promise<{ latencies: number[]; restPerReply: number }> {
  const done = new Map<string, (receivedAt: number) => void>();
  const h = await startHarness({ onTurn: (job, turn) => done.get(turn.trigger.content)?.(job.receivedAt) });
  const channelId = h.discord.addChannel({ name: 'overhead' });
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = now();
    return { text: 'ok' };
  });
  const say = (content: string) => {
    const finished = new Promise<number>((resolve) => done.set(content, resolve));
    return h.discord.userSays({ channelId, content }).then(() => finished);
  };
  await say('Opus, warm up');
  const latencies: number[] = [];
  const before = h.discord.restCalls.length;
  for (let i = 0; i < samples; i++) {
    const receivedAt = await say(`Opus, message ${i}`);
    latencies.push(hostAt - receivedAt);
    await new Promise((r) => setTimeout(r, paceMs));
  }
  const restPerReply = (h.discord.restCalls.length - before) / samples;
  await h.close();
  return { latencies, restPerReply };
}

/** Section 1 of the bench, as lines: every figure from this one process. */
export async function overheadSection(samples: number, paceMs: number): Promise<string[]> {
  const trip = await redisRoundTrip(samples, paceMs);
  const hop = await bullmqHop(samples, paceMs);
  const chorus = await chorusAddedLatency(samples, paceMs);
  const direct = await measureDirectBot({ messages: samples, delayMs: 0, gapMs: paceMs, channels: 1 });
  const p = (v: number[], q: number) => percentile(v, q);
  return [
    `   one Redis round trip at this pace:    p50 ${fmtMs(p(trip, 50))}  p99 ${fmtMs(p(trip, 99))}   (here all but Redis share one process: the direct bot never waits on another process; BullMQ's hop waits on Redis three times: add, the worker's wake-up, taking the job; chorus once more, for its first reads)`,
    `   BullMQ alone (add → worker starts):   p50 ${fmtMs(p(hop, 50))}  p99 ${fmtMs(p(hop, 99))}`,
    `   chorus (gateway → host):              p50 ${fmtMs(p(chorus.latencies, 50))}  p99 ${fmtMs(p(chorus.latencies, 99))}   (target p99 ≤ hop p99 + 3 ms = ${fmtMs(p(hop, 99) + 3)})`,
    `   direct-call bot (handler → host):     p50 ${fmtMs(direct.arrivedToHost.p50)}  p99 ${fmtMs(direct.arrivedToHost.p99)}   (target chorus p50 ≤ 1.5× = ${fmtMs(1.5 * direct.arrivedToHost.p50)})`,
    `   REST calls per reply: chorus ${chorus.restPerReply.toFixed(2)}, direct ${direct.restCallsPerReply.toFixed(2)}`,
  ];
}

if (import.meta.main) {
  const lines = await overheadSection(Number(process.env.BENCH_LATENCY_MESSAGES ?? 200), Number(process.env.BENCH_PACE_MS ?? 50));
  console.log(lines.join('\n'));
  process.exit(0);
}

// What chorus adds between Discord and the model: the time from the gateway receiving a message to
// the model host receiving its request, beside BullMQ's own hop (add → worker start) measured in the
// same run. Exported for bench.ts; `node bench/overhead.ts` prints it alone.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startHarness } from '../test/e2e/harness.ts';
import { now, percentile } from './measure.ts';

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const samples = Number(process.env.BENCH_LATENCY_MESSAGES ?? 200);
  const pace = Number(process.env.BENCH_PACE_MS ?? 50);
  const hop = await bullmqHop(samples, pace);
  const { latencies, restPerReply } = await chorusAddedLatency(samples, pace);
  const f = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`BullMQ hop (add → worker start):       p50 ${f(percentile(hop, 50))}  p99 ${f(percentile(hop, 99))}`);
  console.log(`chorus (gateway receives → host gets):  p50 ${f(percentile(latencies, 50))}  p99 ${f(percentile(latencies, 99))}`);
  console.log(`  above the hop: p50 ${f(percentile(latencies, 50) - percentile(hop, 50))}  p99 ${f(percentile(latencies, 99) - percentile(hop, 99))}; REST calls per reply ${restPerReply.toFixed(2)}`);
  process.exit(0);
}

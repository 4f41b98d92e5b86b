// What chorus adds between Discord and the model: the time from the gateway receiving a message to
// the model host receiving its request, beside BullMQ's own hop (add → worker start) measured in the
// same run. Exported for bench.ts; `node bench/overhead.ts` prints it alone.
import { Queue, Worker } from 'bullmq';
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

/** chorus, gateway and worker in this process: gateway receives → model host receives the request. */
export async function chorusAddedLatency(samples: number, paceMs: number): Promise<{ latencies: number[]; restPerReply: number }> {
  const h = await startHarness();
  const channelId = h.discord.addChannel({ name: 'overhead' });
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = now();
    return { text: 'ok' };
  });
  const warm = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id !== undefined);
  await h.discord.userSays({ channelId, content: 'Opus, warm up' });
  await warm;
  await h.settled();
  const latencies: number[] = [];
  const before = h.discord.restCalls.length;
  for (let i = 0; i < samples; i++) {
    const content = `Opus, message ${i}`;
    const posted = h.discord.nextMessage((m) => m.channel_id === channelId && m.webhook_id !== undefined);
    await h.discord.userSays({ channelId, content });
    await posted;
    await h.settled();
    const job = h.outcomes.findLast((o) => o.turn.trigger.content === content)?.job;
    latencies.push(hostAt - (job?.receivedAt ?? NaN));
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

// Load: chorus (a gateway process and a worker process, defaults) and a bare direct-call bot (its
// own process: discord.js + the Anthropic SDK, no queue), each against its own Discord stand-in with
// Discord's rate limits on and a model host that answers after a fixed delay, under the same open
// loop of messages naming a persona. Exported for bench.ts; `node bench/load.ts` prints it alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { count429, startDiscordStandIn, type DiscordStandIn } from '../local-discord/server.ts';
import { lastSaid, startModelHost, type ModelHost } from '../test/stand-ins/model-host.ts';
import { startHarness } from '../test/e2e/harness.ts';
import { now, processCpuSeconds, processMemory, shippedStart, summary } from './measure.ts';
import { deletePrefix } from '../playground/redis.ts';
import { readNameLine } from '../core/split.ts';

export interface LoadSpec {
  channels: number;
  /** Messages a second in each channel. */
  perChannel: number;
  seconds: number;
  hostDelayMs: number;
  /** When set, the host streams its answer: the first words after hostDelayMs, 20 words over this long. */
  streamMs?: number;
}

export interface LoadResult {
  sent: number;
  /** Requests the host had received when the last message was sent. */
  reachedHostInRun: number;
  answered: number;
  /** Message said → model host has the request: what the bot adds before the model. */
  added: ReturnType<typeof summary>;
  /** Message said → the answer visible in the channel. */
  visible: ReturnType<typeof summary>;
  /** The same, for messages said in the first 5 s after the bot reported ready. */
  addedFirst5s: ReturnType<typeof summary>;
  /** And after those 5 s. */
  addedSteady: ReturnType<typeof summary>;
  visibleSteady: ReturnType<typeof summary>;
  /** Visible latency of the messages said in the first 5 s (a deployment's, or a channel's, first answers). */
  visibleFirst5s: ReturnType<typeof summary>;
  restPerReply: number;
  http429: number;
  invalid: number;
  /** CPU time the bot's processes spent per answered message, from the first message said to the last reply seen (ms; model host and stand-in excluded). */
  cpuMsPerReply: number;
  /** Answers the bot posted itself, under a persona's name (chorus, in a channel whose webhooks Discord held). */
  answeredByBot: number;
}

/** chorus's settings as shipped, whatever the test harness sets for speed. */
const SHIPPED = {
  JOB_LOCK_MS: '8000',
  STALLED_CHECK_MS: '2000',
  RETRY_BACKOFF_MS: '2000',
  REPLY_ATTEMPTS: '4',
  STREAM_EDIT_INTERVAL_MS: '1000',
};

/** chorus's processes as `npm run start:gateway` and `start:worker` start them (their node flags). */
// (BENCH_CHORUS_NODE_ARGS and BENCH_WORKER_NODE_ARGS replace them, to compare; the gateway memory
// bench takes the first too.)
const GATEWAY = shippedStart('start:gateway');
const GATEWAY_ARGS = process.env.BENCH_CHORUS_NODE_ARGS?.split(' ').filter(Boolean) ?? GATEWAY.nodeArgs;
const WORKER_ARGS = process.env.BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? shippedStart('start:worker').nodeArgs;

const TOKEN = /load-\d+/g;

/** Drives the open loop against one bot and gathers its figures. */
async function drive(discord: DiscordStandIn, host: ModelHost, channels: string[], spec: LoadSpec, readyAt: number, bot: readonly ChildProcess[]): Promise<LoadResult> {
  const cpu = () => Promise.all(bot.map((p) => processCpuSeconds(p.pid!))).then((s) => s.reduce((a, b) => a + b, 0));
  const cpuBefore = await cpu();
  const saidAt = new Map<string, number>();
  const hostAt = new Map<string, number>();
  const visibleAt = new Map<string, number>();
  const byBot = new Set<string>();
  host.setResponder((req) => {
    // The message being answered: the last one people said in the request (not its last turn: see lastSaid).
    const token = lastSaid(req, TOKEN)?.[0] ?? 'none';
    if (!hostAt.has(token)) hostAt.set(token, now());
    // The first chunk names the message, so a streamed preview is seen as the answer showing.
    if (spec.streamMs) return { chunks: [`Answer to ${token}.`, ...Array.from({ length: 19 }, (_, i) => ` word${i}`)], delayMs: spec.hostDelayMs, chunkDelayMs: spec.streamMs / 20 };
    return { chunks: [`Answer to ${token}.`], delayMs: spec.hostDelayMs };
  });
  // Called for every message the stand-in creates; never resolves.
  void discord.nextMessage((m) => {
    // (chorus's bot posts a persona's answer under its name line when the channel's webhooks are held.)
    const named = m.webhook_id === undefined ? readNameLine(m.content) : undefined;
    const token = /^Answer to (load-\d+)/.exec(named?.piece ?? m.content)?.[1];
    if (token && !visibleAt.has(token)) visibleAt.set(token, now());
    if (token && named) byBot.add(token);
    return false;
  });
  const restBefore = discord.restCalls.length;
  const total = Math.round(spec.channels * spec.perChannel * spec.seconds);
  const gapMs = 1000 / (spec.channels * spec.perChannel);
  const start = now();
  const said: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * gapMs;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const token = `load-${i}`;
    saidAt.set(token, now());
    said.push(discord.userSays({ channelId: channels[i % channels.length]!, content: `Opus, ${token}: what is new?` }));
  }
  await Promise.all(said);
  const reachedHostInRun = hostAt.size;
  // Everything answered, or a minute of nothing new.
  let last = visibleAt.size;
  let quietSince = now();
  while (visibleAt.size < total && now() - quietSince < 60_000) {
    await new Promise((r) => setTimeout(r, 100));
    if (visibleAt.size !== last) [last, quietSince] = [visibleAt.size, now()];
  }
  await new Promise((r) => setTimeout(r, 500)); // late REST calls (final edits) count too
  const cpuSeconds = (await cpu()) - cpuBefore;
  const tokens = [...saidAt.keys()];
  const since = (m: Map<string, number>, which: string[]) => which.map((t) => (m.get(t) ?? NaN) - saidAt.get(t)!);
  const first = tokens.filter((t) => saidAt.get(t)! - readyAt < 5000);
  const steady = tokens.filter((t) => saidAt.get(t)! - readyAt >= 5000);
  const calls = discord.restCalls.slice(restBefore);
  if (process.env.BENCH_LOAD_DEBUG) {
    const kinds = new Map<string, number>();
    for (const c of calls) {
      const k = `${c.method} ${c.path.replace(/\d{15,}/g, ':id').replace(/\/webhooks\/:id\/[^/?]+/, '/webhooks/:id/:token')} ${c.status}`;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    console.error([...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}\t${k}`).join('\n'));
    const slow = tokens.filter((t) => (hostAt.get(t) ?? Infinity) - saidAt.get(t)! > 20).map((t) => `${t} said+${(saidAt.get(t)! - readyAt).toFixed(0)} added ${((hostAt.get(t) ?? NaN) - saidAt.get(t)!).toFixed(0)}`);
    console.error(slow.join('\n'));
  }
  return {
    sent: total,
    reachedHostInRun,
    answered: visibleAt.size,
    added: summary(since(hostAt, tokens)),
    visible: summary(since(visibleAt, tokens)),
    addedFirst5s: summary(since(hostAt, first)),
    addedSteady: summary(since(hostAt, steady)),
    visibleSteady: summary(since(visibleAt, steady)),
    visibleFirst5s: summary(since(visibleAt, first)),
    restPerReply: calls.length / Math.max(1, visibleAt.size),
    http429: count429(calls),
    invalid: discord.invalidRequests(),
    cpuMsPerReply: (cpuSeconds * 1000) / Math.max(1, visibleAt.size),
    answeredByBot: byBot.size,
  };
}

export async function loadChorus(spec: LoadSpec): Promise<LoadResult> {
  const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0, enforceRateLimits: true, env: SHIPPED });
  try {
    const channels = Array.from({ length: spec.channels }, (_, i) => h.discord.addChannel({ name: `channel-${i}` }));
    const bot = await Promise.all([h.spawnGateway({ ...SHIPPED, ...GATEWAY.env }, GATEWAY_ARGS), h.spawnWorker(WORKER_ARGS)]);
    return await drive(h.discord, h.anthropicHost, channels, spec, now(), bot);
  } finally {
    await h.close();
  }
}

export async function loadDirect(spec: LoadSpec): Promise<LoadResult> {
  const discord = await startDiscordStandIn({ enforceRateLimits: true });
  const host = await startModelHost();
  const bot = await spawnDirectBot(discord, host);
  try {
    const channels = [discord.channelId, ...Array.from({ length: spec.channels - 1 }, (_, i) => discord.addChannel({ name: `channel-${i}` }))];
    return await drive(discord, host, channels, spec, now(), [bot]);
  } finally {
    bot.kill('SIGTERM');
    await once(bot, 'exit');
    await host.close();
    await discord.close();
  }
}

/** The same open loop against a bare BullMQ bot (bench/queue-bot.ts): chorus's architecture, none of its work. */
export async function loadQueueBot(spec: LoadSpec): Promise<LoadResult> {
  const discord = await startDiscordStandIn({ enforceRateLimits: true });
  const host = await startModelHost();
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bench-queue-bot-${process.pid}-${Date.now().toString(36)}`;
  const env = { QUEUE_BOT_REST_URL: discord.restUrl, QUEUE_BOT_TOKEN: discord.token, QUEUE_BOT_MODEL_URL: host.url, QUEUE_BOT_REDIS_URL: redisUrl, QUEUE_BOT_PREFIX: prefix };
  const bots = await Promise.all(['gateway', 'worker'].map((role) => spawnBot('bench/queue-bot.ts', 'queue bot ready', { ...env, QUEUE_BOT_ROLE: role })));
  try {
    const channels = [discord.channelId, ...Array.from({ length: spec.channels - 1 }, (_, i) => discord.addChannel({ name: `channel-${i}` }))];
    return await drive(discord, host, channels, spec, now(), bots);
  } finally {
    for (const bot of bots) bot.kill('SIGKILL');
    await Promise.all(bots.map((bot) => bot.exitCode === null && bot.signalCode === null ? once(bot, 'exit') : undefined));
    const redis = new Redis(redisUrl);
    await deletePrefix(redis, prefix);
    await redis.quit();
    await host.close();
    await discord.close();
  }
}

function spawnDirectBot(discord: DiscordStandIn, host: ModelHost): Promise<ChildProcess> {
  return spawnBot('bench/direct-bot.ts', 'direct bot ready', { DIRECT_BOT_REST_URL: discord.restUrl, DIRECT_BOT_TOKEN: discord.token, DIRECT_BOT_MODEL_URL: host.url });
}

async function spawnBot(script: string, readyLine: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited early with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => l.includes(readyLine) && resolve());
  });
  return child;
}

/**
 * A worker's memory per generation in flight: idle RSS, then RSS while `inFlight` answers wait on a
 * slow host, all in one worker process. And the Redis connections each process opens.
 */
export interface WorkerLimits {
  idleMb: number;
  busyMb: number;
  perGenerationKb: number;
  connections: { gateway: number; worker: number };
  /** What Redis keeps per reply once the `inFlight` replies are done (bytes, MEMORY USAGE): the reply's ledger entry, its post's persona, its finished job. */
  redisPerReply: { ledger: number; post: number; job: number };
}

/** Mean MEMORY USAGE of the keys matching `pattern`, in bytes. */
async function meanKeyBytes(redis: Redis, pattern: string): Promise<number> {
  const keys: string[] = [];
  for await (const found of redis.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) keys.push(...found);
  const sizes = await Promise.all(keys.map((k) => redis.memory('USAGE', k)));
  return sizes.reduce<number>((a, b) => a + Number(b ?? 0), 0) / Math.max(1, keys.length);
}

export async function workerLimits(inFlight: number): Promise<WorkerLimits> {
  const h = await startHarness({ inProcessGateway: false, inProcessWorkers: 0, env: SHIPPED });
  const redis = new Redis(h.config.REDIS_URL);
  const clients = async () => (String(await redis.client('LIST')).trim().split('\n')).length;
  try {
    const channels = Array.from({ length: 20 }, (_, i) => h.discord.addChannel({ name: `busy-${i}` }));
    const c0 = await clients();
    await h.spawnGateway({ ...SHIPPED, ...GATEWAY.env }, GATEWAY_ARGS);
    const c1 = await clients();
    const worker = await h.spawnWorker(WORKER_ARGS);
    const c2 = await clients();
    // Warm every channel (webhooks, history), then measure idle.
    h.anthropicHost.setResponder(() => ({ text: 'ok' }));
    await Promise.all(channels.map((channelId) => h.discord.userSays({ channelId, content: 'Opus, warm up' })));
    while (h.discord.messages().filter((m) => m.webhook_id !== undefined).length < channels.length) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await processMemory(worker.pid!);
    let held = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    h.anthropicHost.setResponder(() => {
      held++;
      return { text: 'A patient answer.', beforeChunk: (i) => (i === 0 ? released : undefined) };
    });
    for (let i = 0; i < inFlight; i++) await h.discord.userSays({ channelId: channels[i % channels.length]!, content: `Opus, slow ${i}` });
    while (held < inFlight) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const busy = await processMemory(worker.pid!);
    release();
    await h.settled();
    const prefix = h.config.CHORUS_PREFIX;
    return {
      idleMb: idle.rssMb,
      busyMb: busy.rssMb,
      perGenerationKb: ((busy.rssMb - idle.rssMb) * 1024) / inFlight,
      connections: { gateway: c1 - c0, worker: c2 - c1 },
      redisPerReply: {
        ledger: await meanKeyBytes(redis, `${prefix}:reply:*:opus`),
        post: await meanKeyBytes(redis, `${prefix}:post:*`),
        job: await meanKeyBytes(redis, `${prefix}:replies:msg-*`),
      },
    };
  } finally {
    await redis.quit();
    await h.close();
  }
}

const pad = (s: string, n: number) => s.padEnd(n);
const sec = (v: number) => (Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`) : 'n/a');

export function loadRow(who: string, r: LoadResult): string {
  return [
    pad(who, 8),
    pad(`${r.reachedHostInRun}/${r.sent} in run, ${r.answered} answered`, 34),
    pad(`${sec(r.added.p50)} / ${sec(r.added.p99)}`, 22),
    pad(`${sec(r.visible.p50)} / ${sec(r.visible.p99)}`, 22),
    pad(r.restPerReply.toFixed(2), 10),
    pad(r.cpuMsPerReply.toFixed(1), 13),
    `${r.http429} (${r.invalid} invalid)`,
  ].join(' | ');
}

export const LOAD_HEADER = `${pad('bot', 8)} | ${pad('messages reaching the host', 34)} | ${pad('added p50 / p99', 22)} | ${pad('visible p50 / p99', 22)} | ${pad('REST/reply', 10)} | ${pad('CPU ms/reply', 13)} | 429s`;

if (import.meta.main) {
  const seconds = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
  for (const spec of [
    { channels: 20, perChannel: 0.5, seconds, hostDelayMs: 2000 },
    { channels: 10, perChannel: 2, seconds, hostDelayMs: 0 },
    { channels: 40, perChannel: 0.5, seconds, hostDelayMs: 0 },
  ]) {
    console.log(`${spec.channels} channels × ${spec.perChannel} messages/s for ${spec.seconds} s, host answers in ${spec.hostDelayMs / 1000} s`);
    console.log(LOAD_HEADER);
    const chorus = await loadChorus(spec);
    console.log(loadRow('chorus', chorus));
    const queued = await loadQueueBot(spec);
    console.log(loadRow('queue', queued));
    const direct = await loadDirect(spec);
    console.log(loadRow('direct', direct));
    console.log(`  chorus: first 5 s added p99 ${sec(chorus.addedFirst5s.p99)} (max ${sec(chorus.addedFirst5s.max)}); after: added p50 ${sec(chorus.addedSteady.p50)} p99 ${sec(chorus.addedSteady.p99)}`);
    console.log(`  queue:  first 5 s added p99 ${sec(queued.addedFirst5s.p99)} (max ${sec(queued.addedFirst5s.max)}); after: added p50 ${sec(queued.addedSteady.p50)} p99 ${sec(queued.addedSteady.p99)}`);
    console.log(`  direct: first 5 s added p99 ${sec(direct.addedFirst5s.p99)} (max ${sec(direct.addedFirst5s.max)}); after: added p50 ${sec(direct.addedSteady.p50)} p99 ${sec(direct.addedSteady.p99)}`);
  }
  const limits = await workerLimits(200);
  console.log(`worker: idle ${limits.idleMb.toFixed(0)} MiB, 200 generations in flight ${limits.busyMb.toFixed(0)} MiB (${limits.perGenerationKb.toFixed(0)} KiB each); Redis connections: gateway ${limits.connections.gateway}, worker ${limits.connections.worker}`);
  console.log(`Redis per finished reply: ledger entry ${limits.redisPerReply.ledger.toFixed(0)} B, post ${limits.redisPerReply.post.toFixed(0)} B, finished job ${limits.redisPerReply.job.toFixed(0)} B`);
  process.exit(0);
}

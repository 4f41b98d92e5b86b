// Gateway memory at scale, in one run on one machine: chorus's gateway (`node bot/main.ts`) and a
// bare discord.js Client with default caches (bench/bare-discordjs.ts), each its own process, both
// connected to one Discord stand-in holding many guilds; then many messages are said across the
// channels. Prints (`node bench/gateway-memory.ts`) or returns (measureGatewayMemory) each process's
// RSS once it has seen every message, and how long chorus took to route them.
// No worker runs: messages naming a persona leave their jobs queued, and are deleted with the prefix.
// Sizes from BENCH_GUILDS, BENCH_CHANNELS_PER_GUILD, BENCH_MESSAGES, BENCH_RATE (messages a second, 0 = burst).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startDiscordStandIn, type Author, type DiscordStandIn } from '../local-discord/server.ts';
import { now, processCpuSeconds, processMemory, shippedStart, waitUntil, type ProcessMemory } from './measure.ts';
import { deletePrefix } from '../playground/redis.ts';

const ROOT = join(import.meta.dirname, '..');

export interface GatewayMemoryOptions {
  /** Guilds the bot is in, the stand-in's default guild included (default 1,000). */
  guilds?: number;
  /** Text channels in each guild (default 10). */
  channelsPerGuild?: number;
  /** Messages said, round-robin over every channel (default 20,000). */
  messages?: number;
  /** Distinct people speaking, round-robin (default 500): discord.js caches each as a user and a member. */
  authors?: number;
  /** Messages said a second; 0 (default): as fast as the stand-in can say them, a burst. */
  ratePerSecond?: number;
  /** Every n-th message names a persona (a job is queued, no worker takes it); 0: none (default 20). */
  namedEvery?: number;
  /** How long both processes are left idle after the last message before the settled figures (default 5,000 ms). */
  settleMs?: number;
  redisUrl?: string;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

export interface GatewayMemory {
  guilds: number;
  channels: number;
  messages: number;
  /** chorus's gateway once it had routed the last message: RSS, and peak RSS over its life (MiB). */
  chorusRssMb: number;
  chorusPeakMb: number;
  /** chorus's gateway after its guilds arrived, before any message (MiB). */
  chorusIdleRssMb: number;
  /** chorus's gateway `settleMs` after the last message: what stays once the burst's garbage may be gone (MiB). */
  chorusSettledRssMb: number;
  /** First message said → last message routed (recorded in history, jobs queued), seconds; polled every 200 ms. */
  chorusSeconds: number;
  /** CPU seconds chorus's gateway used from the first message to the last routed. */
  chorusCpuSeconds: number;
  /** Redis in the same window (Redis is shared: other clients' work counts too; the bench's own polling is taken out of the commands). */
  redisCpuSeconds: number;
  redisCommandsPerMessage: number;
  /** Process start → READY and every GUILD_CREATE handled, seconds. */
  chorusReadySeconds: number;
  discordjsRssMb: number;
  discordjsPeakMb: number;
  discordjsIdleRssMb: number;
  discordjsSettledRssMb: number;
  /** First message said → the client counted the last MESSAGE_CREATE, seconds. */
  discordjsSeconds: number;
  /** CPU seconds the discord.js process used from the first message to the last counted. */
  discordjsCpuSeconds: number;
  /** What the discord.js process said about itself when done (heap, messages in its caches). */
  discordjsReport: Record<string, unknown>;
  /** Time the stand-in took to say every message (both processes were sent each one), seconds. */
  sendSeconds: number;
  /** Messages that named a persona (jobs left queued). */
  named: number;
}

/** The node flags `npm run start:gateway` gives the gateway, and the plain variables it sets (MALLOC_ARENA_MAX). */
const { nodeArgs: SHIPPED_GATEWAY_ARGS, env: GATEWAY_ENV } = shippedStart('start:gateway');
const GATEWAY_NODE_FLAGS = SHIPPED_GATEWAY_ARGS.join(' ');

// Both processes as deployed: node's compile cache on (see package.json and the Dockerfile), so
// neither pays for TypeScript stripping once its modules were compiled once.
const COMPILE_CACHE = { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(ROOT, 'node_modules/.cache/node') };

/** Fills the compile cache as the Dockerfile does: each entry loads its modules and stops, unconfigured. */
async function warmCompileCache(): Promise<void> {
  // With the flags each runs with: the cache is kept per set of V8 flags.
  const gatewayFlags = (process.env.BENCH_CHORUS_NODE_ARGS ?? GATEWAY_NODE_FLAGS).split(' ').filter(Boolean);
  for (const args of [[...gatewayFlags, 'bot/main.ts'], ['bench/bare-discordjs.ts']]) {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...COMPILE_CACHE }, stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

/** A child node process whose stdout is read line by line; stderr's tail is kept for error messages. */
// BENCH_NODE_OPTIONS reaches both children as NODE_OPTIONS, for diagnosis (e.g. a --import memory
// probe); with BENCH_DEBUG their stderr is shown, and SIGUSR2 is sent to them once settled.
function startNode(script: string, env: Record<string, string>, onLine: (line: string) => void): { child: ChildProcess; tail: string[] } {
  const opts = script.includes('bot/') ? process.env.BENCH_CHORUS_NODE_OPTIONS ?? process.env.BENCH_NODE_OPTIONS : process.env.BENCH_NODE_OPTIONS;
  const nodeOptions = opts ? { NODE_OPTIONS: opts } : {};
  // chorus's gateway starts as `npm run start:gateway` starts it (its node flags from package.json),
  // unless BENCH_CHORUS_NODE_ARGS says otherwise; the discord.js client with node's defaults.
  const gatewayFlags = process.env.BENCH_CHORUS_NODE_ARGS ?? GATEWAY_NODE_FLAGS;
  const args = script.includes('bot/') && gatewayFlags ? [...gatewayFlags.split(' ').filter(Boolean), script] : [script];
  const gatewayEnv = script.includes('bot/') ? GATEWAY_ENV : {};
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...COMPILE_CACHE, ...gatewayEnv, ...nodeOptions, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line.slice(0, 500));
    if (tail.length > 20) tail.shift();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    keep(line);
    onLine(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    keep(line);
    if (process.env.BENCH_DEBUG) console.error(`[${script}] ${line}`);
  });
  return { child, tail };
}

/** Rejects if the child exits before `promise` settles, with what it last printed. */
function unlessExits<T>(name: string, p: { child: ChildProcess; tail: string[] }, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${name} exited early (${code}):\n${p.tail.join('\n')}`));
    p.child.once('exit', onExit);
    promise.then(resolve, reject).finally(() => p.child.off('exit', onExit));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The stand-in's guilds and channels; addGuild returns only a guild's first channel, so the rest are added one by one. */
function buildGuilds(discord: DiscordStandIn, guilds: number, perGuild: number): string[] {
  const channels: string[] = [discord.channelId];
  for (let c = 1; c < perGuild; c++) channels.push(discord.addChannel({ guildId: discord.guildId, name: `channel-${c}` }));
  for (let g = 1; g < guilds; g++) {
    const { guildId, channelId } = discord.addGuild({ name: `Guild ${g}`, channels: 1 });
    channels.push(channelId);
    for (let c = 1; c < perGuild; c++) channels.push(discord.addChannel({ guildId, name: `channel-${c}` }));
  }
  return channels;
}

/** Persona files as the harness writes them; the model URL is never called (no worker runs). */
async function writePersonas(dir: string): Promise<void> {
  const host = { baseUrl: 'http://127.0.0.1:9', apiKeyEnv: 'BENCH_MODEL_KEY' };
  const personas = [
    { id: 'opus', name: 'Opus', aliases: ['claude opus'], systemPrompt: 'You are Opus.', hosts: [{ provider: 'anthropic', model: 'claude-opus-test', ...host }] },
    { id: 'gpt', name: 'GPT', aliases: ['gpt-4o'], systemPrompt: 'You are GPT.', hosts: [{ provider: 'openai', model: 'gpt-test', ...host, baseUrl: `${host.baseUrl}/v1` }] },
    { id: 'legacy', name: 'Legacy', systemPrompt: 'You are an old model.', hosts: [{ provider: 'anthropic', model: 'claude-retired', ...host }] },
    { id: 'base', name: 'Base', contextMode: 'prefill', systemPrompt: 'A chat log.', hosts: [{ provider: 'completions', model: 'base-test', ...host, baseUrl: `${host.baseUrl}/v1` }] },
  ];
  for (const p of personas) await writeFile(join(dir, `${p.id}.yaml`), stringify(p));
}

/** Redis's CPU seconds and commands processed so far (INFO), to see how much of the routing is Redis's. */
async function redisWork(redis: Redis): Promise<{ cpu: number; commands: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { cpu: field('used_cpu_user') + field('used_cpu_sys'), commands: field('total_commands_processed') };
}

export async function measureGatewayMemory(opts: GatewayMemoryOptions = {}): Promise<GatewayMemory> {
  const guilds = opts.guilds ?? 1000;
  const perGuild = opts.channelsPerGuild ?? 10;
  const messages = opts.messages ?? 20_000;
  const namedEvery = opts.namedEvery ?? 20;
  const log = opts.log ?? (() => {});
  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bench-mem-${process.pid}-${Date.now().toString(36)}`;
  const dir = await mkdtemp(join(tmpdir(), 'chorus-gateway-memory-'));
  await warmCompileCache();
  const redis = new Redis(redisUrl);
  const discord = await startDiscordStandIn();
  const started: ChildProcess[] = [];
  try {
    await writePersonas(dir);
    const channels = buildGuilds(discord, guilds, perGuild);
    const people: Author[] = Array.from({ length: opts.authors ?? 500 }, (_, i) => ({ id: (900_000_000_000_000_000n + BigInt(i)).toString(), username: `person${i}` }));
    log(`stand-in: ${guilds} guilds, ${channels.length} channels`);

    // (a) chorus's gateway, with the environment the e2e harness gives it.
    const chorus = startNode('bot/main.ts', {
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: discord.restUrl,
      REDIS_URL: redisUrl,
      CHORUS_PREFIX: prefix,
      PERSONAS_DIR: dir,
      LOG_LEVEL: 'warn',
      RECORDS_PATH: join(dir, 'records.sqlite'),
      BENCH_MODEL_KEY: 'unused',
    }, () => {});
    started.push(chorus.child);
    const chorusStart = now();
    // Ready once the saved session position passed READY and every GUILD_CREATE (seq 1 + guilds):
    // the position only moves past events fully handled.
    await unlessExits('chorus gateway', chorus, waitUntil('chorus gateway to handle its guilds', async () => {
      const raw = await redis.get(`${prefix}:gateway-session:0`);
      return raw && (JSON.parse(raw) as { sequence: number }).sequence >= 1 + guilds ? true : undefined;
    }, { timeoutMs: 300_000, intervalMs: 100 }));
    const chorusReadySeconds = (now() - chorusStart) / 1000;
    log(`chorus gateway ready in ${chorusReadySeconds.toFixed(1)} s`);

    // (b) a bare discord.js Client, default caches.
    let djsReady!: () => void;
    let djsDone!: (report: Record<string, unknown>) => void;
    const djsReadyP = new Promise<void>((r) => (djsReady = r));
    const djsDoneP = new Promise<Record<string, unknown>>((r) => (djsDone = r));
    const djs = startNode('bench/bare-discordjs.ts', { DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.restUrl, EXPECT_MESSAGES: String(messages) }, (line) => {
      if (!line.startsWith('{')) return;
      const report = JSON.parse(line) as { event: string };
      if (report.event === 'ready') djsReady();
      if (report.event === 'done') djsDone(report);
    });
    started.push(djs.child);
    await unlessExits('discord.js client', djs, djsReadyP);
    log('discord.js client ready');

    await new Promise((r) => setTimeout(r, 2000)); // let start-up garbage go before the idle figure
    const [chorusIdle, djsIdle] = await Promise.all([processMemory(chorus.child.pid!), processMemory(djs.child.pid!)]);

    // The messages: round-robin over channels, so each channel's last message is among the last sent.
    // Named ones stay clear of each channel's last message, which is the one awaited below.
    const last = new Map<string, string>();
    let named = 0;
    const [chorusCpu0, djsCpu0, redis0] = await Promise.all([processCpuSeconds(chorus.child.pid!), processCpuSeconds(djs.child.pid!), redisWork(redis)]);
    let ownCommands = 1; // the INFO above
    const rate = opts.ratePerSecond ?? 0;
    const sendStart = now();
    let djsAt: { at: number; memory: ProcessMemory; cpu: number; report: Record<string, unknown> } | undefined;
    const djsFinished = unlessExits('discord.js client', djs, djsDoneP).then(async (report) => {
      const at = now();
      const [memory, cpu] = await Promise.all([processMemory(djs.child.pid!), processCpuSeconds(djs.child.pid!)]);
      djsAt = { at, memory, cpu, report };
    });
    djsFinished.catch(() => undefined); // awaited below
    for (let i = 0; i < messages; i++) {
      const channelId = channels[i % channels.length]!;
      const naming = namedEvery > 0 && i % namedEvery === 0 && i < messages - channels.length;
      if (naming) named += 1;
      const content = naming ? `Opus, what do you make of message ${i}?` : `message ${i}: people talking among themselves, nobody named`;
      const m = await discord.userSays({ channelId, content, author: people[i % people.length]! });
      last.set(channelId, m.id);
      if (rate > 0) {
        // Paced: wait until the schedule has room for the next message.
        const due = sendStart + ((i + 1) / rate) * 1000;
        if (due - now() > 2) await new Promise((r) => setTimeout(r, due - now()));
      } else if (i % 200 === 199) await new Promise((r) => setImmediate(r)); // let the sockets write
    }
    const sendSeconds = (now() - sendStart) / 1000;
    log(`said ${messages} messages in ${sendSeconds.toFixed(1)} s`);

    // chorus has routed a channel's last message once it is in the channel's history; a channel's
    // events are handled in order, so every earlier message there was routed (and queued) before.
    const outstanding = new Map(last);
    const chorusFinished = unlessExits('chorus gateway', chorus, waitUntil('chorus gateway to route every message', async () => {
      const ids = [...outstanding];
      const pipeline = redis.pipeline();
      for (const [channelId, id] of ids) pipeline.zscore(`${prefix}:history:${channelId}`, id);
      ownCommands += ids.length;
      const results = (await pipeline.exec()) ?? [];
      results.forEach(([, score], i) => score !== null && outstanding.delete(ids[i]![0]));
      return outstanding.size === 0 ? now() : undefined;
    }, { timeoutMs: 600_000, intervalMs: 200 }));
    const chorusDoneAt = await chorusFinished;
    const [chorusMemory, chorusCpu1, redis1] = await Promise.all([processMemory(chorus.child.pid!), processCpuSeconds(chorus.child.pid!), redisWork(redis)]);
    log(`chorus routed every message after ${((chorusDoneAt - sendStart) / 1000).toFixed(1)} s`);
    await djsFinished;
    const d = djsAt!;
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 5000));
    const [chorusSettled, djsSettled] = await Promise.all([processMemory(chorus.child.pid!), processMemory(djs.child.pid!)]);
    if (process.env.BENCH_DEBUG) {
      for (const child of started) child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 1000));
    }
    return {
      guilds,
      channels: channels.length,
      messages,
      chorusRssMb: chorusMemory.rssMb,
      chorusPeakMb: chorusMemory.peakMb,
      chorusIdleRssMb: chorusIdle.rssMb,
      chorusSettledRssMb: chorusSettled.rssMb,
      chorusSeconds: (chorusDoneAt - sendStart) / 1000,
      chorusReadySeconds,
      chorusCpuSeconds: chorusCpu1 - chorusCpu0,
      redisCpuSeconds: redis1.cpu - redis0.cpu,
      redisCommandsPerMessage: (redis1.commands - redis0.commands - ownCommands) / messages,
      discordjsRssMb: d.memory.rssMb,
      discordjsPeakMb: d.memory.peakMb,
      discordjsIdleRssMb: djsIdle.rssMb,
      discordjsSettledRssMb: djsSettled.rssMb,
      discordjsSeconds: (d.at - sendStart) / 1000,
      discordjsCpuSeconds: d.cpu - djsCpu0,
      discordjsReport: d.report,
      sendSeconds,
      named,
    };
  } finally {
    await Promise.all(started.map(stopChild));
    await discord.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const env = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const r = await measureGatewayMemory({
    guilds: env('BENCH_GUILDS') ?? 1000,
    channelsPerGuild: env('BENCH_CHANNELS_PER_GUILD') ?? 10,
    messages: env('BENCH_MESSAGES') ?? 20_000,
    ratePerSecond: env('BENCH_RATE') ?? 0,
    log: (line) => console.error(`  … ${line}`),
  });
  const mb = (v: number) => `${v.toFixed(0)} MiB`;
  console.log(`gateway memory: ${r.guilds} guilds, ${r.channels} channels, ${r.messages} messages (${r.named} naming a persona, left queued); said in ${r.sendSeconds.toFixed(1)} s`);
  console.log(`  while chorus routed: its CPU ${r.chorusCpuSeconds.toFixed(1)} s, Redis CPU ${r.redisCpuSeconds.toFixed(1)} s, ${r.redisCommandsPerMessage.toFixed(1)} Redis commands a message; discord.js CPU ${r.discordjsCpuSeconds.toFixed(1)} s`);
  console.log(`  chorus gateway:    RSS ${mb(r.chorusRssMb)} (idle ${mb(r.chorusIdleRssMb)}, peak ${mb(r.chorusPeakMb)}, settled ${mb(r.chorusSettledRssMb)}); routed all in ${r.chorusSeconds.toFixed(1)} s (${(r.messages / r.chorusSeconds).toFixed(0)}/s); guilds handled in ${r.chorusReadySeconds.toFixed(1)} s`);
  console.log(`  discord.js Client: RSS ${mb(r.discordjsRssMb)} (idle ${mb(r.discordjsIdleRssMb)}, peak ${mb(r.discordjsPeakMb)}, settled ${mb(r.discordjsSettledRssMb)}); counted all in ${r.discordjsSeconds.toFixed(1)} s; ${JSON.stringify(r.discordjsReport)}`);
  process.exit(0);
}

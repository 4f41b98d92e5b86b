// Everything an end-to-end test needs: the Discord stand-in, local model hosts, persona files,
// a gateway and workers wired to them, and a clean Redis namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startGateway, type RunningGateway } from '../../bot/gateway.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { loadPersonas } from '../../personas/load.ts';
import { loadProtocols } from '../../protocols/schema.ts';
import type { Persona } from '../../personas/schema.ts';
import type { ReplyJob, Turn } from '../../core/replies.ts';
import { INTERVIEW_QUEUE } from '../../core/interview/sessions.ts';
import { openRecordStore } from '../../core/transcript/open-store.ts';
import type { RecordStore } from '../../core/transcript/store.ts';
import type { TurnOutcome } from '../../workers/reply.ts';
import { startWorker, type RunningWorker } from '../../workers/worker.ts';
import { openStores, type Stores } from '../../core/stores.ts';
import { startDiscordStandIn, type DiscordStandIn, type StandInOptions } from '../../local-discord/server.ts';
import { startModelHost, type ModelHost } from '../stand-ins/model-host.ts';
import { deletePrefix, freePort } from '../../playground/redis.ts';

/** chorus's REST proxy process in front of the stand-in, as docker-compose runs it in front of Discord. */
async function startProxy(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['scripts/rest-proxy.ts'], {
    env: { PATH: process.env.PATH ?? '', DISCORD_UPSTREAM_URL: upstream, REST_PROXY_PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`rest proxy exited early with ${code}`)));
    lines.on('line', (line) => line.includes('"rest proxy ready"') && resolve());
  });
  return {
    url: `http://127.0.0.1:${port}/api`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Harness {
  discord: DiscordStandIn;
  anthropicHost: ModelHost;
  openaiHost: ModelHost;
  personas: Persona[];
  personasDir: string;
  config: Config;
  env: Record<string, string>;
  /** The in-process gateway (see `inProcessGateway`); throws when there is none. */
  gateway: RunningGateway;
  /** The stores as every chorus process opens them (queues, ledger, settings, …), the harness's own. */
  stores: Stores;
  redis: Redis;
  workers: RunningWorker[];
  /** Resolves when the gateway has routed the message with this id (with how many personas answer). */
  routed(messageId: string): Promise<number>;
  /** Stops the gateway and starts a new one, as a deploy or a crash would. */
  restartGateway(): Promise<void>;
  /** Stops the in-process gateway (its sessions are kept for a successor). */
  stopGateway(): Promise<void>;
  /** Starts an in-process gateway (when none runs); resolves when connected. */
  startGateway(): Promise<RunningGateway>;
  /**
   * Starts a gateway as its own process; resolves when it reports it is connected. `nodeArgs` are
   * node's flags for it (as `npm run start:gateway` gives them, say).
   */
  spawnGateway(extraEnv?: Record<string, string>, nodeArgs?: string[]): Promise<ChildProcess>;
  /** Resolves when every job now queued or running has finished. */
  settled(): Promise<void>;
  /** Resolves when no interview step is queued, running or waiting for its children. */
  interviewsSettled(): Promise<void>;
  /** A record store on the same database as the processes under test. */
  records(): Promise<RecordStore>;
  /** Resolves when every recorded channel's record on its way (core/transcript/outbox.ts) is written. */
  recordsWritten(): Promise<void>;
  /** Runs a slash command as a member and resolves with the text of the bot's answer to it. */
  command(name: string, options?: unknown[], opts?: { permissions?: string; channelId?: string; author?: { id: string; username: string; global_name?: string } }): Promise<string>;
  /** Every turn in-process workers finished, in order. */
  outcomes: { job: ReplyJob; turn: Turn; outcome: TurnOutcome }[];
  /** Starts an in-process worker. */
  addWorker(): RunningWorker;
  /** Starts a worker as its own process, resolved when it reports ready; `nodeArgs` as for spawnGateway. */
  spawnWorker(nodeArgs?: string[]): Promise<ChildProcess>;
  close(): Promise<void>;
}

/** Persona files as a user would write them, pointing at the local hosts. */
function personaFiles(anthropicUrl: string, openaiUrl: string): Record<string, unknown>[] {
  return [
    {
      id: 'opus',
      name: 'Opus',
      aliases: ['claude opus'],
      avatarUrl: 'https://cdn.example.org/opus.png',
      systemPrompt: 'You are Opus.',
      hosts: [{ provider: 'anthropic', model: 'claude-opus-test', baseUrl: anthropicUrl, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }],
    },
    {
      id: 'gpt',
      name: 'GPT',
      aliases: ['gpt-4o'],
      avatarUrl: 'https://cdn.example.org/gpt.png',
      systemPrompt: 'You are GPT.',
      sampling: { temperature: 0.5, maxTokens: 300 },
      hosts: [{ provider: 'openai', model: 'gpt-test', baseUrl: `${openaiUrl}/v1`, apiKeyEnv: 'TEST_OPENAI_KEY' }],
    },
    {
      id: 'legacy',
      name: 'Legacy',
      avatarUrl: 'https://cdn.example.org/legacy.png',
      systemPrompt: 'You are an old model.',
      lifecycle: { released: '2024-03-04', retired: '2026-01-05' },
      hosts: [
        { provider: 'anthropic', model: 'claude-retired', baseUrl: anthropicUrl, apiKeyEnv: 'TEST_ANTHROPIC_KEY' },
        { provider: 'openai', model: 'vendor/claude-retired', baseUrl: `${openaiUrl}/v1`, apiKeyEnv: 'TEST_OPENAI_KEY', label: 'second-host' },
      ],
    },
    {
      id: 'base',
      name: 'Base',
      contextMode: 'prefill',
      systemPrompt: 'A chat log.',
      hosts: [{ provider: 'completions', model: 'base-test', baseUrl: `${openaiUrl}/v1`, apiKeyEnv: 'TEST_OPENAI_KEY' }],
    },
  ];
}

export interface HarnessOptions {
  inProcessWorkers?: number;
  env?: Record<string, string>;
  /** Have the stand-in answer 429 as Discord does. */
  enforceRateLimits?: boolean;
  /** Send the workers' REST calls through chorus's REST proxy (one rate-limit authority). */
  viaProxy?: boolean;
  /** Start a gateway in this process (default true); tests of gateway processes spawn their own. */
  inProcessGateway?: boolean;
  /** Options of the Discord stand-in (a token of another shape, intents the app may not use, …). */
  discord?: StandInOptions;
  /** Another Redis than the shared one (a test of a Redis crash runs its own). */
  redisUrl?: string;
  /** More personas (extra-1, extra-2, …) on the Anthropic host, for rosters of a realistic size. */
  extraPersonas?: number;
  /** The extra personas' system prompt. */
  extraSystemPrompt?: string;
  /** Sees each turn an in-process worker finishes, as it is added to `outcomes` (a bench awaits its own turns without a job listener). */
  onTurn?: (job: ReplyJob, turn: Turn, outcome: TurnOutcome) => void;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const discord = await startDiscordStandIn({ enforceRateLimits: opts.enforceRateLimits ?? false, ...opts.discord });
  const proxy = opts.viaProxy ? await startProxy(discord.restUrl) : undefined;
  const anthropicHost = await startModelHost();
  const openaiHost = await startModelHost();
  const personasDir = await mkdtemp(join(tmpdir(), 'chorus-personas-'));
  const extras = Array.from({ length: opts.extraPersonas ?? 0 }, (_, i) => ({
    id: `extra-${i + 1}`,
    name: `Extra${i + 1}`,
    aliases: [`extra number ${i + 1}`],
    ...(opts.extraSystemPrompt ? { systemPrompt: opts.extraSystemPrompt } : {}),
    hosts: [{ provider: 'anthropic', model: 'claude-extra', baseUrl: anthropicHost.url, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }],
  }));
  for (const file of [...personaFiles(anthropicHost.url, openaiHost.url), ...extras]) {
    await writeFile(join(personasDir, `${String(file.id)}.yaml`), stringify(file));
  }
  const prefix = `test-${process.pid}-${Date.now().toString(36)}`;
  const env: Record<string, string> = {
    DISCORD_TOKEN: discord.token,
    DISCORD_API_URL: discord.restUrl,
    REDIS_URL: redisUrl,
    CHORUS_PREFIX: prefix,
    PERSONAS_DIR: personasDir,
    LOG_LEVEL: 'silent',
    JOB_LOCK_MS: '2000',
    STALLED_CHECK_MS: '1000',
    RETRY_BACKOFF_MS: '100',
    // Streaming edits are exercised by their own tests; elsewhere a reply is one post.
    STREAM_EDIT_INTERVAL_MS: '0',
    REPLY_ATTEMPTS: '3',
    TEST_ANTHROPIC_KEY: 'test-key-a',
    TEST_OPENAI_KEY: 'test-key-o',
    RECORDS_PATH: join(personasDir, 'records.sqlite'),
    ...opts.env,
  };
  const config = loadConfig(env);
  // Workers go through the proxy when asked; the gateway talks to the stand-in directly.
  const workerConfig = proxy ? loadConfig({ ...env, DISCORD_API_URL: proxy.url, DISCORD_REST_PROXIED: 'true' }) : config;
  const personas = await loadPersonas(personasDir);
  const log = createLogger('test', 'silent');
  const routedWaiters = new Map<string, (n: number) => void>();
  const recordWritten = new EventEmitter().setMaxListeners(100);
  const routedSeen = new Map<string, number>();
  const protocols = await loadProtocols('protocols');
  const newGateway = () =>
    startGateway(config, personas, log, {
      env,
      protocols,
      onRecordWritten: () => recordWritten.emit('written'),
      onRouted: (id, n) => {
        routedSeen.set(id, n);
        routedWaiters.get(id)?.(n);
      },
    });
  let gateway: RunningGateway | undefined;
  if (opts.inProcessGateway ?? true) {
    gateway = newGateway();
    await gateway.ready;
  }
  const stores = openStores(config, personas.map((p) => p.id), log);
  // Opened when first awaited: a listener on every job event would share the CPU with chorus under
  // load (bench/load.ts never waits on jobs), which the bots it is compared with do not have.
  const listeners = new Map<string, Promise<QueueEvents>>();
  const eventsOf = (queueName: string): Promise<QueueEvents> => {
    let events = listeners.get(queueName);
    if (!events) {
      // Read from the stream's end as it is now, before the caller lists the jobs it will await: a job
      // finishing meanwhile is still seen, however long the listener takes to start reading.
      events = redis.xrevrange(`${prefix}:${queueName}:events`, '+', '-', 'COUNT', 1).then(async ([last]) => {
        const opened = new QueueEvents(queueName, { connection: { url: redisUrl }, prefix, lastEventId: last?.[0] ?? '0-0' });
        await opened.waitUntilReady();
        return opened;
      });
      listeners.set(queueName, events);
    }
    return events;
  };
  let store: Promise<RecordStore> | undefined;
  const redis = new Redis(redisUrl);
  const workers: RunningWorker[] = [];
  const outcomes: { job: ReplyJob; turn: Turn; outcome: TurnOutcome }[] = [];
  const children = new Set<ChildProcess>();

  const harness: Harness = {
    discord,
    anthropicHost,
    openaiHost,
    personas,
    personasDir,
    config,
    env,
    get gateway() {
      if (!gateway) throw new Error('no in-process gateway runs');
      return gateway;
    },
    stores,
    async restartGateway() {
      await gateway?.close();
      gateway = newGateway();
      await gateway.ready;
    },
    async stopGateway() {
      await gateway?.close();
      gateway = undefined;
    },
    async startGateway() {
      gateway ??= newGateway();
      await gateway.ready;
      return gateway;
    },
    async spawnGateway(extraEnv = {}, nodeArgs = []) {
      const child = spawn(process.execPath, [...nodeArgs, 'bot/main.ts'], {
        env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      const lines = createInterface({ input: child.stdout! });
      if (process.env.DEBUG_WORKERS) lines.on('line', (l) => console.error('[gateway]', l.slice(0, 300)));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`gateway exited early with ${code}`)));
        lines.on('line', (line) => line.includes('"gateway connected"') && resolve());
      });
      return child;
    },
    redis,
    workers,
    routed(messageId) {
      const seen = routedSeen.get(messageId);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => routedWaiters.set(messageId, resolve));
    },
    async settled() {
      // A finished job may have queued follow-ups or retries: look again until nothing is left.
      const queue = stores.replies.queue;
      for (;;) {
        const jobs = await queue.getJobs(['wait', 'active', 'delayed', 'prioritized', 'waiting-children']);
        if (jobs.length === 0) return;
        const queueEvents = await eventsOf('replies');
        queue.setMaxListeners(jobs.length + 10); // each awaited job listens for its queue closing
        queueEvents.setMaxListeners(jobs.length + 10); // and for its own end
        await Promise.all(jobs.map((j) => j.waitUntilFinished(queueEvents).catch(() => undefined)));
      }
    },
    outcomes,
    async command(name, options = [], opts = {}) {
      // The answer is either the callback itself (type 4) or an edit of the deferred original.
      const answered = discord.nextRestCall((c) => {
        const body = c.body as { type?: number; data?: { content?: string }; content?: string } | undefined;
        return (c.path.includes('/callback') && body?.type === 4) || (c.method === 'PATCH' && /%40original|@original/.test(c.path) && body?.content !== undefined);
      });
      await discord.userRunsCommand({
        name,
        options,
        ...(opts.permissions ? { permissions: opts.permissions } : {}),
        ...(opts.channelId ? { channelId: opts.channelId } : {}),
        ...(opts.author ? { author: opts.author } : {}),
      });
      const call = await answered;
      const body = call.body as { data?: { content?: string }; content?: string };
      return body.data?.content ?? body.content ?? '';
    },
    async interviewsSettled() {
      const queue = stores.interviews.queue;
      for (;;) {
        const jobs = await queue.getJobs(['wait', 'active', 'delayed', 'prioritized', 'waiting-children']);
        if (jobs.length === 0) return;
        const interviewEvents = await eventsOf(INTERVIEW_QUEUE);
        queue.setMaxListeners(jobs.length + 10); // each awaited job listens for its queue closing
        interviewEvents.setMaxListeners(jobs.length + 10);
        await Promise.all(jobs.map((j) => j.waitUntilFinished(interviewEvents).catch(() => undefined)));
      }
    },
    records() {
      store ??= openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
      return store;
    },
    async recordsWritten() {
      for (;;) {
        // Listening before looking: a record written between the two is not missed.
        let heard!: () => void;
        const written = new Promise<void>((resolve) => recordWritten.once('written', (heard = resolve)));
        if ((await stores.outbox.waiting()) === 0) return void recordWritten.off('written', heard);
        await written;
      }
    },
    addWorker() {
      const w = startWorker(workerConfig, personas, env, log, {
        onRecordWritten: () => recordWritten.emit('written'),
        onTurn: (job, turn, outcome) => {
          outcomes.push({ job, turn, outcome });
          opts.onTurn?.(job, turn, outcome);
        },
      });
      workers.push(w);
      return w;
    },
    async spawnWorker(nodeArgs = []) {
      const child = spawn(process.execPath, [...nodeArgs, 'workers/main.ts'], {
        env: { PATH: process.env.PATH ?? '', ...env, DISCORD_API_URL: workerConfig.DISCORD_API_URL, DISCORD_REST_PROXIED: String(workerConfig.DISCORD_REST_PROXIED), LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      const lines = createInterface({ input: child.stdout! });
      if (process.env.DEBUG_WORKERS) lines.on("line", (l) => console.error("[worker]", l.slice(0, 300)));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
        lines.on('line', (line) => {
          if (line.includes('"worker ready"')) resolve();
        });
      });
      return child;
    },
    async close() {
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.close()));
      await gateway?.close();
      await stores.close();
      for (const events of listeners.values()) await (await events).close();
      await (await store)?.close();
      await proxy?.close();
      await discord.close();
      await anthropicHost.close();
      await openaiHost.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
  for (let i = 0; i < (opts.inProcessWorkers ?? 1); i++) harness.addWorker();
  await Promise.all(workers.map((w) => w.worker?.waitUntilReady()));
  return harness;
}

// The worker process's wiring: BullMQ workers for reply jobs and interview steps, with their edges.
import { DelayedError, Worker, type Job } from 'bullmq';
import { Routes } from 'discord-api-types/v10';
import type { Config } from '../core/config.ts';
import { createBotIdentity } from '../core/application.ts';
import { startAdminServer, type AdminServer } from '../core/admin-server.ts';
import { createBudgets } from '../core/budgets.ts';
import { createHealthStore, hostsToCheck, startHealthChecks } from '../core/health.ts';
import { createRegistry, observeRest, workerMetrics } from '../core/metrics.ts';
import { createDiscordEdge, OVERFLOW_AFTER_MS, type DiscordEdge, type OverflowReason } from '../core/discord.ts';
import { createRest, discordAway, discordUnanswered } from '../core/rest.ts';
import { createHostClient, type HostClient } from '../core/hosts/clients.ts';
import { describeError, type Logger } from '../core/log.ts';
import { REPLY_QUEUE, type ReplyJob, type Turn } from '../core/replies.ts';
import { createRestGate } from '../core/rest-gate.ts';
import { openStores } from '../core/stores.ts';
import type { Host, Persona } from '../personas/schema.ts';
import { INTERVIEW_QUEUE, type InterviewJob } from '../core/interview/sessions.ts';
import { startRecordWriter } from '../core/transcript/outbox.ts';
import { RecordStoreAwayError } from '../core/transcript/store-away.ts';
import type { RecordStore } from '../core/transcript/store.ts';
import { watchForDiscord } from './discord-watch.ts';
import { recordPersonaPosts } from './record.ts';
import { giveUp, runReplyJob, type JobResult, type ReplyJobDeps } from './replies.ts';
import { processInterviewJob } from './interview.ts';
import { BotTokenRefusedError, type TurnOutcome } from './reply.ts';

/** The longest a job waits between looks at what it waits for (a record store or Discord away). */
const AWAY_MAX_WAIT_MS = 30_000;
/**
 * How long a job waits for Discord, its tries untouched, before its failures count again: a reply
 * still worth posting after an outage, without a request Discord always fails waiting forever.
 */
export const DISCORD_AWAY_LIMIT_MS = 15 * 60_000;

export interface RunningWorker {
  /** The reply worker (absent in headless runs, which take only interview steps). */
  worker?: Worker<ReplyJob, JobResult>;
  interviews: Worker<InterviewJob, string>;
  /** The admin pages (/metrics), when ADMIN_TOKEN is set and the port was free. */
  admin: Promise<AdminServer | undefined>;
  /** Finishes the turns in hand, hands the rest of their jobs back to the queue, disconnects. */
  close(): Promise<void>;
}

export interface WorkerOptions {
  onTurn?: (job: ReplyJob, turn: Turn, outcome: TurnOutcome) => void;
  /** A record store to use instead of opening the configured one (tests, headless campaigns). */
  records?: RecordStore;
  /** Interviews without Discord: nothing is posted. */
  headless?: boolean;
  /** Called after each record this process's writer has written to the record store (tests). */
  onRecordWritten?: () => void;
  /** Something no retry can mend (the bot token refused): the process should stop, saying why. */
  onFatal?: (err: Error) => void;
}

export function startWorker(config: Config, personas: Persona[], env: Record<string, string | undefined>, log: Logger, options: WorkerOptions = {}): RunningWorker {
  const stores = openStores(config, personas.map((p) => p.id), log, options.records ? { records: options.records } : {});
  const { redis, queueRedis } = stores;
  const prefix = config.CHORUS_PREFIX;
  let discordEdge: DiscordEdge | undefined; // told of crowded webhooks by the REST client below
  // One gate for the REST client and the edge, which takes posts' slots itself (see createDiscordEdge).
  const gate = config.DISCORD_REST_PROXIED ? undefined : createRestGate(redis, prefix);
  // A persona post Discord holds for its channel's limit goes out as the bot (the gate sees the hold; the proxy waits it out).
  const overflow = gate !== undefined && config.WEBHOOK_OVERFLOW === 'bot';
  const rest = createRest(
    config.DISCORD_API_URL,
    config.DISCORD_TOKEN,
    gate
      ? {
          gate,
          onWebhookWait: (id, ms) => discordEdge?.noteWebhookWait(id, ms),
          onWebhookCalls: (id, n) => discordEdge?.noteWebhookCalls(id, n),
          onChannelCalls: (id, n) => discordEdge?.noteChannelCalls(id, n),
          busyChannelPosts: overflow ? 'throw' : 'wait',
        }
      : { proxied: true },
  );
  const identity = createBotIdentity(rest, redis, prefix, config.DISCORD_TOKEN);
  // Metrics, host health and budgets (headless campaigns post nothing and serve no admin pages).
  const registry = createRegistry('worker', { processMetrics: Boolean(config.ADMIN_TOKEN) });
  const metrics = workerMetrics(registry);
  observeRest(rest, registry);
  const health = createHealthStore(redis, prefix, Date.now, config.HEALTH_CHECK_INTERVAL_MS);
  const checks = options.headless
    ? undefined
    : startHealthChecks({ hosts: hostsToCheck(personas, env), env, store: health, intervalMs: config.HEALTH_CHECK_INTERVAL_MS, timeoutMs: config.HEALTH_CHECK_TIMEOUT_MS, log, onChecked: (_, h) => metrics.checked(h.label, h.up) });
  const admin = options.headless ? Promise.resolve(undefined) : startAdminServer({ token: config.ADMIN_TOKEN, host: config.ADMIN_HOST, port: config.WORKER_ADMIN_PORT, portVariable: 'WORKER_ADMIN_PORT', registry, log });
  const clients = new Map<Host, HostClient | undefined>();
  const clientFor = (host: Host) => {
    if (!clients.has(host)) clients.set(host, createHostClient(host, env, { timeoutMs: config.MODEL_TIMEOUT_MS }));
    return clients.get(host);
  };
  const discord = (discordEdge = createDiscordEdge({
    rest,
    redis,
    prefix,
    identity,
    poolSize: config.WEBHOOK_POOL_SIZE,
    feed: stores.feed,
    ...(gate ? { gate } : {}),
    ...(overflow ? { overflowAfterMs: OVERFLOW_AFTER_MS, onOverflow: (reason: OverflowReason) => metrics.postedByBot(reason) } : {}),
    onBackgroundError: (err) => log.warn({ err: describeError(err) }, 'could not grow a webhook pool'),
    onWarning: (message, fields) => log.warn(fields, message),
  }));
  const deps: ReplyJobDeps = {
    personas: new Map(personas.map((p) => [p.id, p])),
    personaList: personas,
    discord,
    ledger: stores.ledger,
    history: stores.history,
    access: stores.access,
    botUserId: () => identity.botUserId(),
    queue: stores.replies,
    clientFor,
    maxTokens: config.HISTORY_TOKENS,
    maxAttempts: config.REPLY_ATTEMPTS,
    backoffMs: config.RETRY_BACKOFF_MS,
    streamIntervalMs: config.STREAM_EDIT_INTERVAL_MS,
    maxPerMessage: config.MAX_PERSONAS_PER_MESSAGE,
    random: Math.random,
    log,
    settings: stores.settings,
    onPosted: (place, turn, posts, saved) => recordPersonaPosts(stores, place, turn, posts, saved),
    recordingOf: (channelId) => stores.live.recording(channelId),
    // One memory of learned context windows for every turn this worker runs.
    hostOptions: { health, observe: (e) => metrics.observeHost(e), windows: new Map() },
    budgets: createBudgets(redis, prefix),
    onTurn: (job, turn, outcome) => {
      // Timings of a turn's first try only: a retry's job is queued afresh, after its backoff.
      const timed = 'requestedAt' in outcome && outcome.attempt === 1;
      const timing = { receivedAt: job.receivedAt, first: job.turns[0] === turn, ...(timed ? { requestedAt: outcome.requestedAt, visibleAt: outcome.visibleAt } : {}) };
      metrics.turn(outcome.status === 'retry-later' ? 'retry' : outcome.status, timing);
      options.onTurn?.(job, turn, outcome);
    },
  };
  // Recorded channels' events, from this process and others, written to the record store in order.
  const recordWriter = startRecordWriter({ redis, prefix, outbox: stores.outbox, store: () => stores.records, log, ...(options.onRecordWritten ? { onWritten: options.onRecordWritten } : {}) });
  const fatal = (err: unknown) => {
    if (err instanceof BotTokenRefusedError) {
      log.fatal(err.message);
      options.onFatal?.(err);
    }
  };

  /** A job waiting for what is away, its tries untouched: RETRY_BACKOFF_MS doubling per run, at most AWAY_MAX_WAIT_MS. */
  const awayWaitMs = (runs: number) => Math.min(AWAY_MAX_WAIT_MS, config.RETRY_BACKOFF_MS * 2 ** Math.min(Math.max(runs, 0), 5));

  // Discord (or the REST proxy) away is not the job's failure: it waits, its tries untouched, so an
  // outage longer than the tries' backoff neither drops the answers nor leaves previews half-said.
  // Woken as soon as Discord answers this process again (the watch looks on its behalf), else at
  // the end of its own backoff.
  const discordWatch = watchForDiscord({ look: () => rest.get(Routes.gatewayBot()), log });
  const waitForDiscord = async (job: Job, token: string | undefined, err: unknown): Promise<void> => {
    if (!discordAway(err) || Date.now() - job.timestamp > DISCORD_AWAY_LIMIT_MS) return;
    const waitMs = awayWaitMs(job.attemptsStarted - 1);
    await job.moveToDelayed(Date.now() + waitMs, token);
    // No answer at all: the watch looks for Discord on the job's behalf. A 5xx came from a Discord
    // that answers (perhaps only some routes fail): the job sleeps out its own backoff.
    if (discordUnanswered(err)) {
      log.debug({ jobId: job.id, waitMs, err: describeError(err) }, 'Discord cannot be reached: the job waits for it, its tries untouched');
      discordWatch.waiting(job, err);
    } else log.warn({ jobId: job.id, waitMs, err: describeError(err) }, 'Discord is failing: the job waits for it, its tries untouched');
    throw new DelayedError();
  };

  let closing = false;
  const worker = options.headless
    ? undefined
    : new Worker<ReplyJob, JobResult>(
        REPLY_QUEUE,
        async (job: Job<ReplyJob, JobResult>, token?: string) => {
          discordWatch.running(job);
          try {
            return await runReplyJob(job, token, deps, () => closing);
          } catch (err) {
            if (err instanceof BotTokenRefusedError) {
              // Not the job's fault: back to the queue untouched (no try counted), for when the
              // token is replaced — held back a little, so this worker, stopping, does not take it again.
              fatal(err);
              await job.moveToDelayed(Date.now() + 10_000, token);
              throw new DelayedError();
            }
            await waitForDiscord(job, token, err);
            const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
            if (!lastTry || err instanceof DelayedError) throw err;
            const undone = await Promise.all(job.data.turns.map((t) => deps.ledger.progress(t.trigger.id, t.personaId).then((p) => !p.done, () => true)));
            metrics.failed(undone.filter(Boolean).length);
            await giveUp(job, err, deps);
            return { answered: 0, deferred: 0, followUps: 0 };
          }
        },
        {
          connection: queueRedis,
          prefix,
          concurrency: config.WORKER_CONCURRENCY,
          lockDuration: config.JOB_LOCK_MS,
          stalledInterval: config.STALLED_CHECK_MS,
          // A job whose worker died is taken over; the ledger makes that safe.
          maxStalledCount: 5,
        },
      );
  // `failed` fires on every failed try; only a job with no tries left is bad news.
  worker?.on('failed', (job, err) => {
    const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
    log[final ? 'error' : 'warn']({ jobId: job?.id, attempt: job?.attemptsMade, err: describeError(err) }, final ? 'reply job failed for good' : 'reply job failed; it will be tried again');
  });
  worker?.on('error', (err) => log.error({ err: describeError(err) }, 'worker error'));

  // Interviews: the same process, a second queue.
  const interviews = new Worker<InterviewJob, string>(
    INTERVIEW_QUEUE,
    async (job, token) => {
      discordWatch.running(job);
      try {
        return await processInterviewJob(job, {
          // Asked for each step: a store that could not be opened is opened again (see openStores).
          store: await stores.records,
          queues: stores.interviews,
          personas: deps.personas,
          clientFor,
          ledger: deps.ledger,
          ...(options.headless ? {} : { discord }),
          ...(deps.hostOptions ? { hostOptions: deps.hostOptions } : {}),
          live: stores.live,
          maxTokens: config.HISTORY_TOKENS,
          log,
        });
      } catch (err) {
        if (err instanceof RecordStoreAwayError) {
          // The record store away is not the step's failure: the step waits for it, its tries untouched.
          const waitMs = awayWaitMs(job.attemptsStarted);
          // (Said as an error once it has waited long: a wrong DATABASE_URL is away for good.)
          log[job.attemptsStarted > 10 ? 'error' : 'warn']({ jobId: job.id, step: job.data.step, waitMs, err: describeError(err) }, 'the record store is away: the interview step waits for it');
          await job.moveToDelayed(Date.now() + waitMs, token);
          throw new DelayedError();
        }
        await waitForDiscord(job, token, err);
        fatal(err);
        throw err;
      }
    },
    { connection: queueRedis, prefix, concurrency: config.WORKER_CONCURRENCY, lockDuration: config.JOB_LOCK_MS, stalledInterval: config.STALLED_CHECK_MS, maxStalledCount: 5 },
  );
  interviews.on('failed', (job, err) => {
    const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
    log[final ? 'error' : 'warn']({ jobId: job?.id, step: job?.data.step, err: describeError(err) }, final ? 'interview step failed for good' : 'interview step failed; it will be tried again');
  });
  interviews.on('error', (err) => log.error({ err: describeError(err) }, 'interview worker error'));

  let closed: Promise<void> | undefined;
  return {
    ...(worker ? { worker } : {}),
    interviews,
    admin,
    close() {
      closed ??= (async () => {
        closing = true;
        discordWatch.close();
        await Promise.all([worker?.close(), interviews.close(), checks?.stop(), admin.then((a) => a?.close()), recordWriter.close()]);
        await stores.close();
      })();
      return closed;
    },
  };
}

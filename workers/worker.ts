// The worker process's wiring: a BullMQ worker draining channels' turns, with its edges.
import { Worker, type Job } from 'bullmq';
import { applicationIdFromToken, type Config } from '../core/config.ts';
import { createDiscordEdge, createRest } from '../core/discord.ts';
import { createHostClient, type HostClient } from '../core/hosts/clients.ts';
import { describeError, type Logger } from '../core/log.ts';
import { openStores } from '../core/stores.ts';
import { REPLY_QUEUE, type DrainJob, type Turn } from '../core/turns.ts';
import type { Host, Persona } from '../personas/schema.ts';
import { INTERVIEW_QUEUE, type InterviewJob } from '../core/interview/sessions.ts';
import type { RecordStore } from '../core/transcript/store.ts';
import { drainChannel, TurnRetry, type DrainDeps } from './drain.ts';
import { processInterviewJob } from './interview.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION } from '../core/transcript/events.ts';
import type { ReplyOutcome } from './reply.ts';

export interface RunningWorker {
  /** The channel-reply worker (absent in headless runs, which take only interview steps). */
  worker?: Worker<DrainJob, number>;
  interviews: Worker<InterviewJob, string>;
  /** Finishes the turn in hand, hands the rest of the channel back to the queue, disconnects. */
  close(): Promise<void>;
}

export interface WorkerOptions {
  onTurn?: (turn: Turn, outcome: ReplyOutcome) => void;
  /** A record store to use instead of opening the configured one (tests, headless campaigns). */
  records?: RecordStore;
  /** Interviews without Discord: nothing is posted. */
  headless?: boolean;
}

export function startWorker(config: Config, personas: Persona[], env: Record<string, string | undefined>, log: Logger, options: WorkerOptions = {}): RunningWorker {
  const stores = openStores(config, personas.map((p) => p.id), log, options.records);
  const { redis, records } = stores;
  const prefix = config.CHORUS_PREFIX;
  const rest = createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN, config.DISCORD_REST_PROXIED);
  const clients = new Map<Host, HostClient | undefined>();
  const clientFor = (host: Host) => {
    if (!clients.has(host)) clients.set(host, createHostClient(host, env, { timeoutMs: config.MODEL_TIMEOUT_MS }));
    return clients.get(host);
  };
  const deps: DrainDeps = {
    personas: new Map(personas.map((p) => [p.id, p])),
    personaList: personas,
    discord: createDiscordEdge(rest, redis, prefix, options.headless ? '0' : applicationIdFromToken(config.DISCORD_TOKEN), config.WEBHOOK_POOL_SIZE),
    ledger: stores.ledger,
    history: stores.history,
    turns: stores.turns,
    settings: stores.settings,
    clientFor,
    maxTokens: config.HISTORY_TOKENS,
    maxAttempts: config.REPLY_ATTEMPTS,
    streamIntervalMs: config.STREAM_EDIT_INTERVAL_MS,
    maxPerMessage: config.MAX_PERSONAS_PER_MESSAGE,
    random: Math.random,
    log,
    ...(options.onTurn ? { onTurn: options.onTurn } : {}),
  };

  // Persona posts in recorded channels join the channel's transcript, with the model call behind them.
  deps.onPosted = async (turn, posts, modelTurn) => {
    const session = await stores.live.of(turn.channelId);
    if (session?.kind !== 'channel') return;
    const store = await records;
    for (const [i, post] of posts.entries()) {
      await store.append({
        v: TRANSCRIPT_FORMAT_VERSION,
        id: eventId(session.sessionId, 'message', post.id),
        sessionId: session.sessionId,
        at: new Date().toISOString(),
        type: 'channel_message',
        author: { kind: 'persona', personaId: turn.personaId, name: post.authorName },
        text: post.content,
        discordMessageId: post.id,
        ...(i === 0 && modelTurn ? { modelTurn } : {}),
      });
    }
  };

  let closing = false;
  const worker = options.headless ? undefined : new Worker<DrainJob, number>(
    REPLY_QUEUE,
    async (job: Job<DrainJob, number>) => {
      const answered = await drainChannel(job.data, deps, () => closing);
      // Stopped part-way: hand the channel's remaining turns to another worker.
      if (closing && (await deps.turns.pending(job.data.channelId)) > 0) await deps.turns.recover();
      return answered;
    },
    {
      connection: redis,
      prefix,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.STALLED_CHECK_MS,
      // A drain whose worker died is taken over; the ledger makes that safe.
      maxStalledCount: 5,
      settings: {
        // Backoff follows the failing turn's own attempts, not the drain's lifetime total.
        backoffStrategy: (_attempts: number, _type?: string, err?: Error) =>
          config.RETRY_BACKOFF_MS * 2 ** Math.max(0, (err instanceof TurnRetry ? err.attempt : 1) - 1),
      },
    },
  );
  worker?.on('failed', (job, err) => {
    log.error({ jobId: job?.id, err: describeError(err) }, 'drain failed for good');
    // Never leave a channel without a drain: let recovery schedule a fresh one.
    void deps.turns.recover().catch(() => undefined);
  });
  worker?.on('error', (err) => log.error({ err: describeError(err) }, 'worker error'));

  // Interviews: the same process, a second queue.
  const interviews = new Worker<InterviewJob, string>(
    INTERVIEW_QUEUE,
    async (job) =>
      processInterviewJob(job, {
        store: await records,
        queues: stores.interviews,
        personas: deps.personas,
        clientFor,
        ledger: deps.ledger,
        ...(options.headless ? {} : { discord: deps.discord }),
        maxTokens: config.HISTORY_TOKENS,
        log,
      }),
    { connection: redis, prefix, concurrency: config.WORKER_CONCURRENCY, lockDuration: config.JOB_LOCK_MS, stalledInterval: config.STALLED_CHECK_MS, maxStalledCount: 5 },
  );
  interviews.on('failed', (job, err) => log.error({ jobId: job?.id, step: job?.data.step, err: describeError(err) }, 'interview step failed'));
  interviews.on('error', (err) => log.error({ err: describeError(err) }, 'interview worker error'));

  let closed: Promise<void> | undefined;
  return {
    worker,
    interviews,
    close() {
      closed ??= (async () => {
        closing = true;
        await Promise.all([worker?.close(), interviews.close()]);
        await stores.close();
      })();
      return closed;
    },
  };
}

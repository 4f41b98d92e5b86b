// The worker process's wiring: a BullMQ worker over the reply queue, with its edges.
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { applicationIdFromToken } from '../core/config.ts';
import { createDiscordEdge, createRest } from '../core/discord.ts';
import { createHostClient, type HostClient } from '../core/hosts/clients.ts';
import { createLedger } from '../core/ledger.ts';
import { describeError, type Logger } from '../core/log.ts';
import { REPLY_QUEUE, type ReplyJob } from '../core/queue.ts';
import type { Host, Persona } from '../personas/schema.ts';
import { processReply, type ReplyOutcome } from './reply.ts';

export interface RunningWorker {
  worker: Worker<ReplyJob, ReplyOutcome>;
  /** Finishes the jobs in hand (or hands them back), then disconnects. */
  close(): Promise<void>;
}

export function startWorker(config: Config, personas: Persona[], env: Record<string, string | undefined>, log: Logger): RunningWorker {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const ledger = createLedger(redis, config.CHORUS_PREFIX, config.POST_MEMORY_DAYS);
  const rest = createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN);
  const discord = createDiscordEdge(rest, redis, config.CHORUS_PREFIX, applicationIdFromToken(config.DISCORD_TOKEN));
  const clients = new Map<Host, HostClient | undefined>();
  const clientFor = (host: Host) => {
    if (!clients.has(host)) clients.set(host, createHostClient(host, env, { timeoutMs: config.MODEL_TIMEOUT_MS }));
    return clients.get(host);
  };
  const deps = {
    personas: new Map(personas.map((p) => [p.id, p])),
    discord,
    ledger,
    clientFor,
    limits: { maxMessages: config.HISTORY_MESSAGES, maxTokens: config.HISTORY_TOKENS },
    log,
  };

  const worker = new Worker<ReplyJob, ReplyOutcome>(
    REPLY_QUEUE,
    async (job: Job<ReplyJob, ReplyOutcome>) => {
      if (job.data.v !== 1) throw new Error(`unsupported reply job version ${String(job.data.v)}`);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      return processReply(job.data, lastAttempt, deps);
    },
    {
      connection: redis,
      prefix: config.CHORUS_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.STALLED_CHECK_MS,
      // A job whose worker died is taken over; twice is a pattern worth failing loudly on.
      maxStalledCount: 2,
    },
  );
  worker.on('failed', (job, err) => log.error({ jobId: job?.id, attempts: job?.attemptsMade, err: describeError(err) }, 'reply job failed'));
  worker.on('error', (err) => log.error({ err: describeError(err) }, 'worker error'));

  let closing: Promise<void> | undefined;
  return {
    worker,
    close() {
      closing ??= (async () => {
        await worker.close();
        await redis.quit();
      })();
      return closing;
    },
  };
}

// The reply queue's contract. One BullMQ job answers one message: its turns (one per persona that
// answers it) run in order, each reading the answers before it. Jobs of different messages run at
// once, in any channel, on any worker; nothing but the job says what is left to do, so no flag or
// list in Redis can ever disagree with the queue.
import type { ConnectionOptions, JobsOptions } from 'bullmq';
import { Queue } from './queues.ts';
import type { ChannelMessage } from './messages.ts';
import type { Trigger } from './route.ts';
import type { Settings } from './settings.ts';

export const REPLY_QUEUE = 'replies';

/** One persona answering one message. */
export interface Turn {
  personaId: string;
  reason: Trigger;
  /** Chain depth of the post this turn makes. */
  depth: number;
  /** The message being answered, as seen when it was routed. */
  trigger: ChannelMessage;
}

export interface ReplyJob {
  /** Bumped when the shape changes, so old workers refuse new jobs loudly. */
  v: 3;
  guildId?: string;
  channelId: string;
  /** For threads: the parent channel, whose settings and webhooks they share. */
  parentId?: string;
  /** Answered in this order; each turn reads the posts of those before it. */
  turns: Turn[];
  /** The channel's settings when the message was routed (read once, by whoever routed it). */
  settings: Settings;
  /** When the message reached chorus (ms since epoch), for latency figures. */
  receivedAt: number;
}

export type Place = Pick<ReplyJob, 'guildId' | 'channelId' | 'parentId'>;

export function placeOf(job: Place): Place {
  return { ...(job.guildId ? { guildId: job.guildId } : {}), channelId: job.channelId, ...(job.parentId ? { parentId: job.parentId } : {}) };
}

/**
 * Job ids say what a job is for, so the same work is never queued twice: a message is answered by
 * one job however often it is routed (a replayed gateway event, a retried command); the follow-ups
 * of a job, and each retry of a turn, have one id each. BullMQ ignores an add whose id it holds.
 */
export const jobIds = {
  message: (messageId: string) => `msg-${messageId}`,
  followUps: (jobId: string) => `after-${jobId}`,
  retry: (triggerId: string, personaId: string, attempt: number) => `retry-${triggerId}-${personaId}-${attempt}`,
};

export interface ReplyQueue {
  queue: Queue<ReplyJob>;
  /** Queues a job under its id (a repeat of the id is ignored); resolves when Redis holds it. */
  add(id: string, job: ReplyJob, opts?: { delayMs?: number }): Promise<void>;
  close(): Promise<void>;
}

export interface ReplyQueueOptions {
  /** Tries of a job for failures that are not the model host's (Discord 5xx, Redis, a dead worker). */
  attempts: number;
  backoffMs: number;
}

export function createReplyQueue(connection: ConnectionOptions, prefix: string, opts: ReplyQueueOptions): ReplyQueue {
  const queue = new Queue<ReplyJob>(REPLY_QUEUE, { connection, prefix });
  const base: JobsOptions = {
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs },
    // Finished ids are kept a while so a late repeat is still recognised; the reply ledger (a done
    // turn is remembered a week) covers longer. Counts bound Redis: each job holds its trigger message.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
  };
  return {
    queue,
    async add(id, job, o = {}) {
      await queue.add('reply', job, { ...base, jobId: id, ...(o.delayMs ? { delay: o.delayMs } : {}) });
    },
    close: () => queue.close(),
  };
}

// The contract between gateway and workers: one job per (message, persona).
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { ChannelMessage } from './messages.ts';
import type { Trigger } from './route.ts';

export const REPLY_QUEUE = 'replies';

export interface ReplyJob {
  /** Bumped when the shape changes, so old workers can refuse new jobs loudly. */
  v: 1;
  guildId?: string;
  channelId: string;
  personaId: string;
  reason: Trigger;
  /** The message being answered, as the gateway saw it. */
  trigger: ChannelMessage;
  /** When the gateway received the message (ms since epoch), for latency figures. */
  receivedAt: number;
}

/** Deterministic: enqueueing the same (message, persona) twice yields one job. */
export function replyJobId(triggerId: string, personaId: string): string {
  return `reply-${triggerId}-${personaId}`;
}

export function replyJobOptions(attempts: number, backoffMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    // Finished jobs stay a day so a duplicate enqueue within it is a no-op; the reply ledger
    // guards for longer.
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

export function createReplyQueue(connection: ConnectionOptions, prefix: string): Queue<ReplyJob> {
  return new Queue<ReplyJob>(REPLY_QUEUE, { connection, prefix });
}

export async function enqueueReply(queue: Queue<ReplyJob>, job: ReplyJob, opts: JobsOptions): Promise<void> {
  await queue.add('reply', job, { ...opts, jobId: replyJobId(job.trigger.id, job.personaId) });
}

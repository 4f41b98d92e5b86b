// A reply job: the turns answering one message, in order. A turn none of whose hosts answered, one
// of them failing in passing, steps aside into a job of its own, tried again later, so the turns
// after it — and every other message, in this channel or any — never wait for its retries. When the job's turns are done, the persona
// posts they produced are answered in turn by one follow-up job: models answering models, in order.
import { DelayedError, type Job } from 'bullmq';
import { describeError } from '../core/log.ts';
import { jobIds, placeOf, type ReplyJob, type ReplyQueue, type Turn } from '../core/replies.ts';
import { answerTurn, reportUndelivered, type ReplyDeps, type TurnOutcome } from './reply.ts';

export interface ReplyJobDeps extends ReplyDeps {
  queue: ReplyQueue;
  /** Observes each finished turn (figures, tests). */
  onTurn?: (job: ReplyJob, turn: Turn, outcome: TurnOutcome) => void;
}

/** How long a job handed back by a stopping worker waits before another worker takes it. */
const HAND_BACK_MS = 1000;

export interface JobResult {
  answered: number;
  deferred: number;
  followUps: number;
}

/**
 * Runs a job's turns. `shouldStop` turns true when the worker is asked to stop: the turn in hand is
 * finished, and the job goes back to the queue for another worker to carry on (the ledger knows
 * which turns are done). A job taken while stopping goes back before any turn starts.
 */
export async function runReplyJob(job: Job<ReplyJob>, token: string | undefined, deps: ReplyJobDeps, shouldStop: () => boolean): Promise<JobResult> {
  const data = job.data;
  if (data.v !== 3) {
    deps.log.error({ jobId: job.id, v: data.v }, 'reply job of an unknown version dropped');
    return { answered: 0, deferred: 0, followUps: 0 };
  }
  const place = placeOf(data);
  const { settings } = data;
  const followUps: Turn[] = [];
  let answered = 0;
  let deferred = 0;
  for (const turn of data.turns) {
    if (shouldStop()) {
      // Held back a moment rather than put straight back: a stopping worker may still be waiting for
      // a job, and would take this one again.
      await job.moveToDelayed(Date.now() + HAND_BACK_MS, token);
      throw new DelayedError();
    }
    const outcome = await answerTurn(place, turn, settings, deps);
    deps.onTurn?.(data, turn, outcome);
    if (outcome.status === 'retry-later') {
      deferred += 1;
      await deps.queue.add(jobIds.retry(turn.trigger.id, turn.personaId, outcome.attempt), { ...data, turns: [turn], receivedAt: Date.now() }, { delayMs: outcome.delayMs });
      continue;
    }
    if (outcome.status === 'posted' || outcome.status === 'notice' || outcome.status === 'already-answered') {
      answered += 1;
      followUps.push(...outcome.followUps);
    }
  }
  if (followUps.length && job.id) {
    await deps.queue.add(jobIds.followUps(job.id), { ...data, turns: followUps, receivedAt: Date.now() });
  }
  return { answered, deferred, followUps: followUps.length };
}

/**
 * The job's last try failed too (Discord or Redis kept failing): each turn still undone is let go,
 * and the channel is told, once per turn, that its reply could not be posted.
 */
export async function giveUp(job: Job<ReplyJob>, err: unknown, deps: ReplyJobDeps): Promise<void> {
  const place = placeOf(job.data);
  deps.log.error({ jobId: job.id, channelId: place.channelId, err: describeError(err) }, 'reply job failed on its last try; its undone turns are dropped');
  for (const turn of job.data.turns) {
    const progress = await deps.ledger.progress(turn.trigger.id, turn.personaId).catch(() => undefined);
    if (!progress || progress.done) continue;
    await reportUndelivered(place, turn, 'Discord kept failing', deps);
  }
}

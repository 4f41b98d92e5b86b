// Jobs waiting for Discord while it is away (workers/worker.ts): this process looks at Discord every
// few seconds on their behalf and, once it answers, wakes them all at once, rather than each at the
// end of its own backoff (up to 30 s after Discord is back). The outage is logged once, not per job
// and per wait; as an error once it has lasted long.
import { discordAway } from '../core/rest.ts';
import { describeError, type Logger } from '../core/log.ts';

/** What the watch needs of a job: to be woken from the delayed set. */
export interface WaitingJob {
  id?: string | undefined;
  queueName: string;
  promote(): Promise<void>;
}

export interface DiscordWatch {
  /** A job moved to the delayed set to wait for Discord. */
  waiting(job: WaitingJob, err: unknown): void;
  /** A job running again (woken, or at the end of its own wait): no longer one to wake. */
  running(job: Pick<WaitingJob, 'id' | 'queueName'>): void;
  close(): void;
}

/** How often a process with jobs waiting looks at Discord. */
export const DISCORD_LOOK_MS = 5_000;
/** An outage this long is logged as an error (a blocked network, a REST proxy that is not coming back). */
export const DISCORD_AWAY_ERROR_MS = 5 * 60_000;

export function watchForDiscord(o: { look: () => Promise<unknown>; log: Logger; everyMs?: number; now?: () => number }): DiscordWatch {
  const now = o.now ?? Date.now;
  const everyMs = o.everyMs ?? DISCORD_LOOK_MS;
  const jobs = new Map<string, WaitingJob>();
  let awaySince: number | undefined;
  let toldLong = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const schedule = () => {
    if (timer || closed || jobs.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void look();
    }, everyMs);
    timer.unref?.();
  };

  async function look(): Promise<void> {
    try {
      await o.look();
    } catch (err) {
      if (discordAway(err)) {
        const awayMs = now() - (awaySince ?? now());
        if (awayMs >= DISCORD_AWAY_ERROR_MS && !toldLong) {
          toldLong = true;
          o.log.error({ awayMs, waiting: jobs.size, err: describeError(err) }, 'Discord has not answered for minutes: replies wait for it (is the network or the REST proxy up?)');
        }
        schedule();
        return;
      }
      // Any other answer (a 429, a refusal) is Discord answering.
    }
    const woken = [...jobs.values()];
    jobs.clear();
    o.log.info({ awayMs: awaySince === undefined ? undefined : now() - awaySince, jobs: woken.length }, 'Discord answers again: the jobs waiting for it go on');
    awaySince = undefined;
    toldLong = false;
    // (A job already running again, or done, is not in the delayed set: nothing to wake.)
    await Promise.all(woken.map((j) => j.promote().catch(() => undefined)));
  }

  return {
    waiting(job, err) {
      if (awaySince === undefined) {
        awaySince = now();
        o.log.warn({ err: describeError(err) }, 'Discord cannot be reached: jobs wait for it, their tries untouched');
      }
      jobs.set(`${job.queueName}:${job.id ?? ''}`, job);
      schedule();
    },
    running(job) {
      jobs.delete(`${job.queueName}:${job.id ?? ''}`);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

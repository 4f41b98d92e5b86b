// Records of recorded channels wait in Redis, in order, until the record store has them. The gateway
// and the workers never write a channel's messages to the database on a message's path: a database
// away (restarted, failing over, out of connections) would otherwise stop every message in a recorded
// channel from being answered, and lose its record. Redis, which holds the queues, holds these too;
// one writer at a time appends them to the store in the order they were put, and takes each off the
// list only once the store has it (appends are idempotent on the event id, so writing one twice after
// a crash changes nothing). A store that is away is waited for; an event the store refuses for good
// is set aside in a list of its own, not dropped, so the events after it are not held up.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeError, type Logger } from '../log.ts';
import { redisScript } from '../redis-script.ts';
import type { TranscriptEvent } from './events.ts';
import type { RecordStore } from './store.ts';

export interface RecordOutbox {
  /** Queues events to be recorded, in this order after any put before; resolves once Redis holds them. */
  put(...events: TranscriptEvent[]): Promise<void>;
  /** How many events wait to be written. */
  waiting(): Promise<number>;
  /** Calls `listener` after each put in this process (a writer here starts at once). */
  onPut(listener: () => void): () => void;
}

const keys = (prefix: string) => ({
  list: `${prefix}:records-outbox`,
  writer: `${prefix}:records-outbox:writer`,
  setAside: `${prefix}:records-outbox:set-aside`,
});

export function createRecordOutbox(redis: Redis, prefix: string): RecordOutbox {
  const { list } = keys(prefix);
  const listeners = new Set<() => void>();
  return {
    async put(...events) {
      if (events.length === 0) return;
      await redis.rpush(list, ...events.map((e) => JSON.stringify(e)));
      for (const listener of listeners) listener();
    },
    waiting: () => redis.llen(list),
    onPut(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Takes the first event off the list only if it is the one written: two writers (a lease that ran
 * out during a slow write) may both write it, but only one takes it off, and never the one after it.
 */
const TAKE_IF_FIRST = redisScript(`
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  if KEYS[2] then redis.call('RPUSH', KEYS[2], ARGV[1]) end
  return 1
end
return 0`);

/** The writer's lease: taken when free, renewed when this writer holds it. */
const LEASE = redisScript(`
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`);

/**
 * The record store is away, not refusing this event: a connection refused, reset or timed out, a
 * server shutting down or out of connections (PostgreSQL's classes 08 and 57P, 53300), a transaction
 * to run again (40001, 40P01), or SQLite's file locked by another process.
 */
export function storeIsAway(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^(08|57P)/.test(code) || ['53300', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))) return true;
  const message = describeError(err).message;
  return /Connection terminated|connection timeout|timeout exceeded|Query read timeout|database is locked|SQLITE_BUSY|ECONNREFUSED|ECONNRESET|could not open the record store/i.test(message);
}

export interface RecordWriterOptions {
  redis: Redis;
  prefix: string;
  outbox: RecordOutbox;
  /** The store, opened (again) when asked: a store that could not be opened is asked again later. */
  store: () => Promise<RecordStore>;
  log: Logger;
  /** How often an idle writer, or one waiting for the lease, looks again (a put in this process wakes it at once). */
  idleMs?: number;
  /** The longest wait between tries while the store is away (short: a restart is over in seconds, and a try costs one refused connection). */
  maxBackoffMs?: number;
  /** Refusals of one event before it is set aside. */
  maxRefusals?: number;
  /** Told after each event written (tests await this rather than sleeping). */
  onWritten?: (event: TranscriptEvent) => void;
}

export interface RecordWriter {
  close(): Promise<void>;
}

const LEASE_MS = 60_000;
const BATCH = 100;

export function startRecordWriter(opts: RecordWriterOptions): RecordWriter {
  const { redis, log } = opts;
  const k = keys(opts.prefix);
  const idleMs = opts.idleMs ?? 1000;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  const maxRefusals = opts.maxRefusals ?? 5;
  const me = randomUUID();
  let closed = false;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    }).finally(() => {
      clearTimeout(timer);
      wake = undefined;
    });

  let awaySince: number | undefined;
  let backoffMs = 500;
  let refusals = 0;

  /** Writes the batch in order; false when the store is away (the rest waits). */
  async function write(batch: string[]): Promise<boolean> {
    for (const raw of batch) {
      let event: TranscriptEvent | undefined;
      try {
        event = JSON.parse(raw) as TranscriptEvent;
        const store = await opts.store();
        await store.append(event);
      } catch (err) {
        if (event && storeIsAway(err)) {
          if (awaySince === undefined) {
            awaySince = Date.now();
            log.warn({ err: describeError(err), waiting: await redis.llen(k.list).catch(() => undefined) }, 'the record store is away: records wait in Redis until it is back');
          }
          return false;
        }
        refusals += 1;
        if (refusals < maxRefusals && event) {
          log.warn({ eventId: event.id, type: event.type, err: describeError(err), refusals }, 'the record store refused a record; it is tried again');
          return false;
        }
        log.error({ eventId: event?.id, type: event?.type, err: describeError(err) }, `the record store refused a record ${refusals} times: it is set aside in ${k.setAside}, and the records after it go on`);
        await TAKE_IF_FIRST(redis, [k.list, k.setAside], [raw]);
        refusals = 0;
        continue;
      }
      refusals = 0;
      if (awaySince !== undefined) {
        log.info({ awayMs: Date.now() - awaySince }, 'the record store is back: waiting records are being written');
        awaySince = undefined;
      }
      backoffMs = 500;
      await TAKE_IF_FIRST(redis, [k.list], [raw]);
      opts.onWritten?.(event);
    }
    return true;
  }

  const unsubscribe = opts.outbox.onPut(() => wake?.());
  const loop = (async () => {
    while (!closed) {
      try {
        if (!((await LEASE(redis, [k.writer], [me, LEASE_MS])) as number)) {
          await pause(idleMs);
          continue;
        }
        const batch = await redis.lrange(k.list, 0, BATCH - 1);
        if (batch.length === 0) {
          await pause(idleMs);
          continue;
        }
        if (!(await write(batch))) {
          await pause(backoffMs);
          backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
        }
      } catch (err) {
        // Redis itself away: everything waits for it; look again later.
        log.warn({ err: describeError(err) }, 'the record writer could not read its list');
        await pause(idleMs);
      }
    }
  })();

  return {
    async close() {
      closed = true;
      unsubscribe();
      wake?.();
      await loop;
      // Another writer may take over at once.
      await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, k.writer, me).catch(() => undefined);
    },
  };
}

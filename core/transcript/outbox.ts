// Records of recorded channels wait in Redis, in order, until the record store has them. The gateway
// and the workers never write a channel's messages to the database on a message's path: a database
// away (restarted, failing over, out of connections) would otherwise stop every message in a recorded
// channel from being answered, and lose its record. Redis, which holds the queues, holds these too;
// one writer at a time appends them to the store in the order they were put, and takes each off the
// list only once the store has it (appends are idempotent on the event id, so writing one twice after
// a crash changes nothing). A store that is away is waited for, however long; an event whose data the
// store refuses (a constraint, a value it cannot take) is set aside in a list of its own, not dropped,
// so the events after it are not held up.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeError, type Logger } from '../log.ts';
import { redisScript } from '../redis-script.ts';
import type { TranscriptEvent } from './events.ts';
import type { RecordStore } from './store.ts';
import { RecordStoreAwayError } from './store-away.ts';

export interface RecordOutbox {
  /** Queues events to be recorded, in this order after any put before; resolves once Redis holds them. */
  put(...events: TranscriptEvent[]): Promise<void>;
  /** How many events wait to be written: all, or one session's. */
  waiting(sessionId?: string): Promise<number>;
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
    async waiting(sessionId) {
      if (sessionId === undefined) return redis.llen(list);
      // (Read whole: an export asks, rarely; the list is short unless the store has been away.)
      const raw = await redis.lrange(list, 0, -1);
      return raw.filter((r) => (JSON.parse(r) as { sessionId?: string }).sessionId === sessionId).length;
    },
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
  /** Refusals of one event's data before it is set aside. */
  maxRefusals?: number;
  /** Told after each event written (tests await this rather than sleeping). */
  onWritten?: (event: TranscriptEvent) => void;
}

export interface RecordWriter {
  close(): Promise<void>;
}

/** The writer's lease, renewed as it writes: a writer killed holds the records up this long at most. */
const LEASE_MS = 20_000;
const BATCH = 100;
/** How long the store may be away before it is logged as an error (a wrong address is away for good). */
const AWAY_IS_AN_ERROR_MS = 5 * 60_000;
/** How long `close` waits for a write in progress (Redis or the store may not answer at all). */
const CLOSE_WAITS_MS = 5000;

/**
 * The store refuses this event's data, not the store being away: PostgreSQL's data exceptions (22)
 * and integrity constraint violations (23), SQLite's constraint failures, or text that is no event.
 */
function refusesData(err: unknown): boolean {
  if (err instanceof SyntaxError) return true;
  const e = err instanceof RecordStoreAwayError ? undefined : (err as { code?: unknown; errcode?: unknown } | null);
  if (typeof e?.code === 'string' && /^(22|23)/.test(e.code)) return true;
  return typeof e?.errcode === 'number' && (e.errcode & 0xff) === 19; // SQLITE_CONSTRAINT
}

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
  let awayLoggedAsError = false;
  let backoffMs = 500;
  let refusals = 0;
  let leaseRenewedAt = 0;

  /** Takes or renews the lease; false when another writer holds it. */
  async function holdLease(): Promise<boolean> {
    const held = ((await LEASE(redis, [k.writer], [me, LEASE_MS])) as number) === 1;
    if (held) leaseRenewedAt = Date.now();
    return held;
  }

  /** The store away (or failing for every record): said once, and as an error once it has lasted too long to be a restart. */
  async function away(err: unknown): Promise<void> {
    const now = Date.now();
    if (awaySince === undefined) {
      awaySince = now;
      log.warn({ err: describeError(err), waiting: await redis.llen(k.list).catch(() => undefined) }, 'the record store cannot take records just now: they wait in Redis until it can');
    } else if (!awayLoggedAsError && now - awaySince > AWAY_IS_AN_ERROR_MS) {
      awayLoggedAsError = true;
      log.error({ err: describeError(err), awayMs: now - awaySince, waiting: await redis.llen(k.list).catch(() => undefined) }, 'the record store has not taken records for minutes: check DATABASE_URL and the database; records keep waiting in Redis');
    }
  }

  /** Writes the batch in order; false when the store is away or refused (the rest waits). */
  async function write(batch: string[]): Promise<boolean> {
    for (const raw of batch) {
      if (closed) return true;
      // Renewed while writing, not only between batches: a slow store must not let a second writer in.
      if (Date.now() - leaseRenewedAt > LEASE_MS / 4 && !(await holdLease())) return true;
      let event: TranscriptEvent | undefined;
      try {
        event = JSON.parse(raw) as TranscriptEvent;
        const store = await opts.store();
        await store.append(event);
      } catch (err) {
        if (!refusesData(err)) {
          // Away, or failing in a way no record of its own causes: every record waits, none is set aside.
          await away(err);
          return false;
        }
        refusals += 1;
        if (refusals < maxRefusals) {
          log.warn({ eventId: event?.id, type: event?.type, err: describeError(err), refusals }, 'the record store refused a record; it is tried again');
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
        awayLoggedAsError = false;
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
        if (!(await holdLease())) {
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
      // (Bounded: Redis or the store may not answer at all; the lease then lapses by itself.)
      const finished = (async () => {
        await loop;
        // Another writer may take over at once.
        await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, k.writer, me).catch(() => undefined);
      })();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAITS_MS)))]);
      clearTimeout(timer);
    },
  };
}

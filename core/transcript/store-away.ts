// Telling "the record store is away" from "the record store refuses this": the first is waited for
// (records stay in Redis, interview steps are delayed), the second is the caller's failure as before.
// Only errors raised by the store itself are judged, so a Discord or Redis connection reset inside an
// interview step is never taken for the database being away.
import { describeError } from '../log.ts';
import type { RecordStore } from './store.ts';

/** The record store could not be reached or could not take writes just now; the cause says why. */
export class RecordStoreAwayError extends Error {
  override name = 'RecordStoreAwayError';
  constructor(cause: unknown) {
    super(`the record store is away: ${describeError(cause).message}`, { cause });
  }
}

/**
 * PostgreSQL classes and codes that say the server, not the statement, is the trouble: connection
 * (08), a transaction to run again (40), insufficient resources (53: too many connections, disk
 * full), operator intervention (57: shutting down, a statement cancelled or timed out), a read-only
 * server after a failover (25006), a database or login not there (3D000, 28: being restored, a
 * password rotated), a lock not available (55P03), system and internal errors (58, XX).
 */
const PG_AWAY = /^(08|40|53|57|58|XX|28)|^(25006|3D000|55P03)$/;
const NODE_AWAY = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLite result codes (node:sqlite's `errcode`, low byte): busy, locked, I/O error, full, cannot open. */
const SQLITE_AWAY = new Set([5, 6, 10, 13, 14]);
const MESSAGE_AWAY = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|not queryable|database is locked/i;

/** Whether an error raised by the store says it is away rather than refusing what was asked. */
export function isAwayFailure(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown } | null;
  if (typeof e?.code === 'string' && (PG_AWAY.test(e.code) || NODE_AWAY.has(e.code))) return true;
  if (typeof e?.errcode === 'number' && SQLITE_AWAY.has(e.errcode & 0xff)) return true;
  return MESSAGE_AWAY.test(describeError(err).message);
}

/** The store's failures when it is away, as RecordStoreAwayError; every other failure as it came. */
export function guardStore(store: RecordStore): RecordStore {
  const judged = (err: unknown): never => {
    throw isAwayFailure(err) ? new RecordStoreAwayError(err) : err;
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      // (Called on the store itself: its private fields are not the proxy's.)
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(target, args);
          return result instanceof Promise ? result.catch(judged) : result;
        } catch (err) {
          return judged(err);
        }
      };
    },
  });
}

// Which failures of the record store mean "away" (waited for) and which are the caller's own, and the
// guard that marks the first kind on every store method, leaving the store's private state intact.
import { describe, expect, it } from 'vitest';
import type { RecordStore } from '../../core/transcript/store.ts';
import { guardStore, isAwayFailure, RecordStoreAwayError } from '../../core/transcript/store-away.ts';

const pgError = (code: string, message = `pg error ${code}`) => Object.assign(new Error(message), { code });

describe('isAwayFailure', () => {
  it('takes the server being unreachable, restarting, read-only, full or misaddressed for away', () => {
    for (const code of ['08006', '57P01', '57014', '53300', '53100', '40001', '25006', '3D000', '28P01', '55P03', 'XX000', 'ECONNREFUSED', 'ENOTFOUND']) expect(isAwayFailure(pgError(code)), code).toBe(true);
    expect(isAwayFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isAwayFailure(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isAwayFailure(Object.assign(new Error('database is locked'), { code: 'ERR_SQLITE_ERROR', errcode: 5 }))).toBe(true);
  });

  it('takes a refusal of the data, or a statement the server does not know, for the caller’s own', () => {
    for (const code of ['22001', '23505', '42P01', '42601']) expect(isAwayFailure(pgError(code)), code).toBe(false);
    expect(isAwayFailure(Object.assign(new Error('CHECK constraint failed'), { code: 'ERR_SQLITE_ERROR', errcode: 275 }))).toBe(false);
    expect(isAwayFailure(new TypeError('cannot read properties of undefined'))).toBe(false);
  });
});

describe('guardStore', () => {
  class PrivateStore {
    #failWith: Error;
    constructor(failWith: Error) {
      this.#failWith = failWith;
    }
    async append() {
      throw this.#failWith;
    }
    async sessions() {
      return [];
    }
  }
  const guarded = (err: Error) => guardStore(new PrivateStore(err) as unknown as RecordStore);

  it('marks an away failure as RecordStoreAwayError, with its cause', async () => {
    const cause = pgError('57P01', 'terminating connection due to administrator command');
    const err = await guarded(cause).append({} as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordStoreAwayError);
    expect((err as Error).cause).toBe(cause);
  });

  it('passes every other failure, and every answer, on as it came', async () => {
    const cause = pgError('23505');
    await expect(guarded(cause).append({} as never)).rejects.toBe(cause);
    expect(await guarded(cause).sessions()).toEqual([]);
  });
});

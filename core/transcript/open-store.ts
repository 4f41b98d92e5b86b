// Opens the record store the configuration asks for: PostgreSQL when a database URL is set, else
// an SQLite file (its directory created if missing). The schema is migrated before it is returned.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PostgresRecordStore } from './postgres-store.ts';
import { SqliteRecordStore } from './sqlite-store.ts';
import type { RecordStore } from './store.ts';

export async function openRecordStore(opts: { databaseUrl?: string; sqlitePath: string }): Promise<RecordStore> {
  let store: RecordStore;
  if (opts.databaseUrl) {
    store = new PostgresRecordStore(opts.databaseUrl);
  } else {
    if (opts.sqlitePath !== ':memory:') mkdirSync(dirname(opts.sqlitePath), { recursive: true });
    store = new SqliteRecordStore(opts.sqlitePath);
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

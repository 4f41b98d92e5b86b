// Opens the record store the configuration asks for: PostgreSQL when a database URL is set, else
// an SQLite file (its directory created if missing). The schema is migrated before it is returned.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RecordStore } from './store.ts';

export async function openRecordStore(opts: { databaseUrl?: string; sqlitePath: string }): Promise<RecordStore> {
  let store: RecordStore;
  // Only the engine in use is loaded (each is a sizeable module a process may never need).
  if (opts.databaseUrl) {
    const { PostgresRecordStore } = await import('./postgres-store.ts');
    store = new PostgresRecordStore(opts.databaseUrl);
  } else {
    if (opts.sqlitePath !== ':memory:') mkdirSync(dirname(opts.sqlitePath), { recursive: true });
    const { SqliteRecordStore } = await import('./sqlite-store.ts');
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

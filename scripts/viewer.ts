// `npm run viewer`: the transcript viewer alone, reading the record store chorus writes to
// (DATABASE_URL, else the SQLite file RECORDS_PATH). It only reads.
import { existsSync } from 'node:fs';
import { createLogger } from '../core/log.ts';
import { loadDotEnv, onShutdown, stop } from '../core/startup.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import type { RecordStore } from '../core/transcript/store.ts';
import { startWebServer } from '../playground/server.ts';
import { viewerSettings } from '../playground/settings.ts';

loadDotEnv();
const settings = viewerSettings(process.env);
if ('error' in settings) stop('viewer', settings.error);
const { source } = settings;
// Opening a path that does not exist would make an empty database there: say so instead.
if (source.kind === 'sqlite' && !existsSync(source.path)) {
  stop('viewer', `there is no record store at ${source.path}: set RECORDS_PATH to the SQLite file chorus writes (or DATABASE_URL for PostgreSQL).`);
}
let store: RecordStore;
try {
  store = await openRecordStore(source.kind === 'postgres' ? { databaseUrl: source.url, sqlitePath: '' } : { sqlitePath: source.path });
} catch (err) {
  stop('viewer', `cannot open the record store at ${source.label}: ${(err as Error).message}`);
}
const web = await startWebServer({ host: settings.host, port: settings.port, playground: false, records: async () => store, recordsLabel: source.label });
console.log(`chorus viewer: ${web.url}/viewer  (records: ${source.label}; read-only)`);
onShutdown(createLogger('viewer', 'warn'), async () => {
  await web.close();
  await store.close();
});

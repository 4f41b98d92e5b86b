// `npm run playground`, start to finish: settings, persona and protocol files (a bad one is named,
// as at any chorus start), Redis (found or started privately), the echo host and Echo, the web
// server, and chorus itself; then one summary of what the visitor will find.
import { randomBytes } from 'node:crypto';
import { createLogger } from '../core/log.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import type { RecordStore } from '../core/transcript/store.ts';
import { loadPersonas, PersonaFileError } from '../personas/load.ts';
import { checkProtocolPersonas, loadProtocols, ProtocolFileError } from '../protocols/schema.ts';
import { startChorus } from './chorus.ts';
import { startEchoHost } from './echo-host.ts';
import { echoPersona, keyReport, withEcho } from './personas.ts';
import { ensureRedis } from './redis.ts';
import { startWebServer } from './server.ts';
import { playgroundSettings } from './settings.ts';

export interface RunningPlayground {
  url: string;
  /** Lines for the terminal: where to go, what is missing, where records go. */
  summary: string[];
  close(): Promise<void>;
}

/** A start-up problem the visitor can fix, said in one line. */
export class PlaygroundStartError extends Error {
  override name = 'PlaygroundStartError';
}

export async function startPlayground(env: Record<string, string | undefined>): Promise<RunningPlayground> {
  const settings = playgroundSettings(env);
  if ('error' in settings) throw new PlaygroundStartError(settings.error);
  const { files, protocols } = await readFiles(env.PERSONAS_DIR || 'personas', env.PROTOCOLS_DIR || 'protocols');

  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch((err: Error) => console.error(`chorus playground: while stopping: ${err.message}`));
  };
  try {
    const redis = await ensureRedis(env.REDIS_URL || 'redis://127.0.0.1:6379');
    if ('error' in redis) throw new PlaygroundStartError(redis.error);
    closers.push(redis.close);

    let store: Promise<RecordStore> | undefined;
    const records = () => (store ??= openRecordStore({ sqlitePath: settings.recordsPath }));
    closers.push(async () => void (await store)?.close());
    const web = await startWebServer({ host: settings.host, port: settings.port, playground: true, records, recordsLabel: settings.recordsPath });
    closers.push(web.close);

    const echoHost = await startEchoHost();
    closers.push(echoHost.close);
    const { personas, note } = withEcho(files, echoPersona(echoHost.url, `http://127.0.0.1:${web.port}/avatars/Echo.svg`));
    const keys = keyReport(personas, env);

    const log = createLogger('playground', env.PLAYGROUND_LOG_LEVEL || 'warn');
    const chorus = await startChorus({ env, personas, protocols, redisUrl: redis.url, recordsPath: settings.recordsPath, prefix: `playground-${randomBytes(4).toString('hex')}`, log });
    closers.push(chorus.close);
    const notes = [
      ...(note ? [note] : []),
      `Transcripts of this playground go to ${settings.recordsPath}, not to your research database.`,
    ];
    web.attachChannel({ discord: chorus.discord, definitions: chorus.definitions, keys, notes });

    const summary = [
      `chorus playground: ${web.url}  (viewer: ${web.url}/viewer)`,
      `  personas: ${keys.cards.map((c) => `${c.name}${c.available ? '' : ' [no key]'}`).join(', ')}`,
      ...(keys.missing.length ? [`  missing keys (set them in .env): ${keys.missing.map((m) => `${m.variable} (${m.personas.join(', ')})`).join('; ')}`] : []),
      ...(note ? [`  ${note}`] : []),
      `  Redis: ${redis.private ? `a private redis-server at ${redis.url}, stopped with the playground` : redis.url.replace(/\/\/[^@/]*@/, '//')}`,
      `  records: ${settings.recordsPath}`,
    ];
    return { url: web.url, summary, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Persona and protocol files, checked as every chorus process checks them; a bad one is named. */
async function readFiles(personasDir: string, protocolsDir: string) {
  try {
    const files = await loadPersonas(personasDir);
    const protocols = await loadProtocols(protocolsDir);
    checkProtocolPersonas(protocols, files);
    return { files, protocols };
  } catch (err) {
    if (err instanceof PersonaFileError || err instanceof ProtocolFileError) throw new PlaygroundStartError(err.message);
    throw err;
  }
}

// What the gateway and its commands share: the stores in Redis and the queue, built once.
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { Config } from '../core/config.ts';
import { createHistoryStore, type HistoryStore } from '../core/history.ts';
import { createLedger, type Ledger } from '../core/ledger.ts';
import type { Logger } from '../core/log.ts';
import { createPersonaRoles, type PersonaRoles } from '../core/roles.ts';
import { createSettingsStore, defaultSettings, type SettingsStore } from '../core/settings.ts';
import { createDrainQueue, createTurnStore, type DrainJob, type TurnStore } from '../core/turns.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';
import { createInterviewQueues, type InterviewQueues } from '../core/interview/sessions.ts';
import { createLiveSessions, type LiveSessions } from '../core/transcript/live.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import type { RecordStore } from '../core/transcript/store.ts';

export interface Services {
  config: Config;
  personas: readonly Persona[];
  env: Record<string, string | undefined>;
  log: Logger;
  redis: Redis;
  queue: Queue<DrainJob>;
  ledger: Ledger;
  history: HistoryStore;
  turns: TurnStore;
  settings: SettingsStore;
  roles: PersonaRoles;
  protocols: ReadonlyMap<string, LoadedProtocol>;
  /** The transcript database, opened at start (research data lives there, not in Redis). */
  records: Promise<RecordStore>;
  interviews: InterviewQueues;
  live: LiveSessions;
  /** Webhooks chorus posts through (their messages are the workers' to record and route). */
  isOurWebhook(webhookId: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createServices(
  config: Config,
  personas: readonly Persona[],
  env: Record<string, string | undefined>,
  log: Logger,
  protocols: ReadonlyMap<string, LoadedProtocol> = new Map(),
): Services {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = config.CHORUS_PREFIX;
  const queue = createDrainQueue(redis, prefix);
  const interviews = createInterviewQueues(redis, prefix);
  const records = openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
  records.catch((err: Error) => log.error({ err: err.message }, 'could not open the record store'));
  return {
    protocols,
    records,
    interviews,
    live: createLiveSessions(redis, prefix),
    config,
    personas,
    env,
    log,
    redis,
    queue,
    ledger: createLedger(redis, prefix, config.POST_MEMORY_DAYS),
    history: createHistoryStore(redis, prefix, config.HISTORY_CACHE_SIZE),
    turns: createTurnStore(redis, queue, prefix, config.POST_MEMORY_DAYS * 24 * 3600),
    settings: createSettingsStore(redis, prefix, defaultSettings(config, personas.map((p) => p.id))),
    roles: createPersonaRoles(redis, prefix),
    isOurWebhook: async (webhookId) => (await redis.sismember(`${prefix}:our-webhooks`, webhookId)) === 1,
    async close() {
      await interviews.close();
      await queue.close();
      await (await records.catch(() => undefined))?.close();
      await redis.quit();
    },
  };
}

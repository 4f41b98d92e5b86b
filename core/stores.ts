// Everything chorus keeps, opened once per process: Redis (queues, history, ledger, settings,
// refused permissions, roles, live sessions) and the record store. The gateway and the workers build the same set.
import { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { createHistoryStore, type HistoryStore } from './history.ts';
import { createInterviewQueues, type InterviewQueues } from './interview/sessions.ts';
import { createLedger, type Ledger } from './ledger.ts';
import { describeError, type Logger } from './log.ts';
import { createPersonaRoles, type PersonaRoles } from './roles.ts';
import { createSettingsStore, defaultSettings, type SettingsStore } from './settings.ts';
import { createLiveSessions, type LiveSessions } from './transcript/live.ts';
import { openRecordStore } from './transcript/open-store.ts';
import { createRecordOutbox, type RecordOutbox } from './transcript/outbox.ts';
import { guardStore, RecordStoreAwayError } from './transcript/store-away.ts';
import type { RecordStore } from './transcript/store.ts';
import { createChannelAccess, type ChannelAccess } from './access.ts';
import { createChangeFeed, type ChangeFeed } from './changes.ts';
import { createReplyQueue, type ReplyQueue } from './replies.ts';

export interface Stores {
  /** chorus's own reads and writes; commands issued in one tick go to Redis in one write. */
  redis: Redis;
  /** BullMQ's connection (kept apart: BullMQ manages its own commands and blocking clients). */
  queueRedis: Redis;
  replies: ReplyQueue;
  interviews: InterviewQueues;
  ledger: Ledger;
  history: HistoryStore;
  access: ChannelAccess;
  settings: SettingsStore;
  roles: PersonaRoles;
  live: LiveSessions;
  /** Tells every process that something changed, for those keeping copies in memory. */
  feed: ChangeFeed;
  /**
   * The transcript database (research data lives there, not in Redis). A failure to open is logged,
   * and the next use tries again: a database away at start is not away for good.
   */
  readonly records: Promise<RecordStore>;
  /** A recorded channel's events, on their way to the record store in order (see transcript/outbox.ts). */
  outbox: RecordOutbox;
  /** Closes the queues, the record store (unless it was handed in) and Redis. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** A record store to use instead of opening the configured one. */
  records?: RecordStore;
  /** Keep settings and live sessions in memory, dropped when any process changes them (the gateway). */
  cacheReads?: boolean;
}

export function openStores(config: Config, personaIds: readonly string[], log: Logger, opts: StoreOptions = {}): Stores {
  const { records } = opts;
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const queueRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const feed = createChangeFeed(redis, config.CHORUS_PREFIX);
  const prefix = config.CHORUS_PREFIX;
  const replies = createReplyQueue(queueRedis, prefix, { attempts: config.REPLY_ATTEMPTS, backoffMs: config.RETRY_BACKOFF_MS });
  const interviews = createInterviewQueues(queueRedis, prefix, { attempts: config.REPLY_ATTEMPTS, backoffMs: config.RETRY_BACKOFF_MS });
  // Opened on first use: the gateway needs transcripts only for interviews and recorded channels,
  // and a process that never records loads no database driver.
  // The store's failures when it is away are RecordStoreAwayError (see transcript/store-away.ts), a
  // failure to open it too: nothing can be recorded until it opens, which the callers wait for.
  let opened: Promise<RecordStore> | undefined = records ? Promise.resolve(guardStore(records)) : undefined;
  const open = () => {
    if (opened) return opened;
    const opening = openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH }).then(guardStore, (err: unknown) => {
      log.error({ err: describeError(err) }, 'could not open the record store');
      if (opened === opening) opened = undefined;
      throw new RecordStoreAwayError(err);
    });
    opening.catch(() => undefined); // (each caller is told; none is an unhandled rejection)
    opened = opening;
    return opening;
  };
  const stores = {
    redis,
    queueRedis,
    replies,
    interviews,
    ledger: createLedger(redis, prefix, config.POST_MEMORY_DAYS),
    history: createHistoryStore(redis, prefix, config.HISTORY_CACHE_SIZE),
    access: createChannelAccess(redis, prefix),
    settings: createSettingsStore(redis, prefix, defaultSettings(config, personaIds), feed, opts.cacheReads),
    roles: createPersonaRoles(redis, prefix),
    live: createLiveSessions(redis, prefix, feed, opts.cacheReads),
    outbox: createRecordOutbox(redis, prefix),
    feed,
    async close() {
      await interviews.close();
      await replies.close();
      if (!records && opened) await (await opened.catch(() => undefined))?.close();
      await feed.close();
      await redis.quit();
      await queueRedis.quit();
    },
  };
  // Not enumerable, so spreading the stores (as the gateway's services do) does not open it.
  Object.defineProperty(stores, 'records', { get: open, enumerable: false });
  return stores as typeof stores & Pick<Stores, 'records'>;
}

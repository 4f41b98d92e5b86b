// Configuration from the environment, validated once at start-up. `.env.example` documents each variable.
import { z } from 'zod';
import { describeIssues } from './yaml-file.ts';

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

export const ConfigSchema = z.object({
  DISCORD_TOKEN: z.string({ error: 'set DISCORD_TOKEN to the bot token (in .env, see .env.example)' }).min(1, 'set DISCORD_TOKEN to the bot token (in .env, see .env.example)'),
  /** Override only to point at a REST proxy or a local stand-in. */
  DISCORD_API_URL: z.url().default('https://discord.com/api'),
  /**
   * Set when DISCORD_API_URL is chorus's REST proxy: the proxy then keeps the global limit for all
   * processes, and each process stops counting its own 50 a second.
   */
  DISCORD_REST_PROXIED: z.stringbool().default(false),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Namespaces chorus's Redis keys and queues, so several installs can share one Redis. */
  CHORUS_PREFIX: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('chorus'),
  PERSONAS_DIR: z.string().default('personas'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Replies one worker process carries at once. A reply mostly waits on its model host, so one
   * process carries a thousand (each costs ~100 KB of memory while in flight): a model that thinks
   * for 30 s at 10 messages a second keeps 300 replies in flight, one for 100 s a thousand.
   */
  WORKER_CONCURRENCY: int(1000),
  /**
   * How long a worker holds a job before others may take it over (renewed every half of it while the
   * worker lives): a crashed worker's reply resumes elsewhere after about this plus STALLED_CHECK_MS.
   */
  JOB_LOCK_MS: int(8_000),
  /** How often workers look for jobs whose worker died. */
  STALLED_CHECK_MS: int(2_000),
  /** Attempts per reply (first try included) for retryable host failures: 429, 5xx, overload, network. */
  REPLY_ATTEMPTS: int(4),
  /** First retry delay; later ones double. */
  RETRY_BACKOFF_MS: int(2_000),
  MODEL_TIMEOUT_MS: int(120_000),
  /** Default context size (most messages a model sees); /config can change it per channel. */
  HISTORY_MESSAGES: int(40),
  HISTORY_TOKENS: int(6_000),
  /** How long chorus remembers which persona sent a message (replies to older posts go unrouted). */
  POST_MEMORY_DAYS: int(90),
  /** Personas present in a channel unless /summon or /dismiss changed it: ids, comma-separated, or * for all. */
  DEFAULT_ROSTER: z.string().default('*'),
  /** Chance (0–1) that a roster persona joins in when a human message addresses nobody. */
  INTERJECTION_PROBABILITY: z.coerce.number().min(0).max(1).default(0),
  /** Most persona posts in a row, each triggered by the one before, before a human must speak again. */
  CHAIN_DEPTH: z.coerce.number().int().min(0).default(2),
  /** A persona triggered by another persona or by chance waits this long since its last post. */
  PERSONA_COOLDOWN_SECONDS: z.coerce.number().int().min(0).default(10),
  /** Replies a channel may get per minute from model-to-model turns and interjections. */
  CHANNEL_REPLIES_PER_MINUTE: z.coerce.number().int().min(0).default(20),
  /** At most this many personas answer one message (the first addressed). */
  MAX_PERSONAS_PER_MESSAGE: int(5),
  /** Messages kept per channel in the Redis history the gateway maintains. */
  HISTORY_CACHE_SIZE: int(200),
  /** Webhooks chorus keeps per channel (Discord allows 15 in all); personas are spread over them. */
  WEBHOOK_POOL_SIZE: z.coerce.number().int().min(1).max(10).default(5),
  /**
   * A persona post Discord's hidden per-channel webhook limit would hold more than a second: `bot`
   * posts it as the bot, under the persona's name in bold; `wait` waits for the webhooks.
   */
  WEBHOOK_OVERFLOW: z.enum(['bot', 'wait']).default('bot'),
  /** Least time between streaming edits of a reply; 0 posts replies whole, without streaming. */
  STREAM_EDIT_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  /** The Discord permission moderation commands need. */
  MOD_PERMISSION: z.string().regex(/^[A-Za-z]+$/).default('ManageChannels'),
  /** Interview protocol files. */
  PROTOCOLS_DIR: z.string().default('protocols'),
  /** The transcript database: PostgreSQL when set (postgres://…), else the SQLite file below. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
  /** The SQLite file holding transcripts when DATABASE_URL is not set. */
  RECORDS_PATH: z.string().default('data/chorus.sqlite'),
  /** Gateway shards in all: a number, or `auto` for Discord's recommendation. */
  SHARD_COUNT: z.union([z.literal('auto'), z.coerce.number().int().positive()], { error: 'a whole number of shards (1 or more), or auto' }).default('auto'),
  /** The shards this gateway process runs (`0,1` or `0-3`); empty runs them all. */
  SHARD_IDS: z
    .string()
    .regex(/^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/, 'shard ids like 0,1 or 0-3')
    .refine((v) => v.split(',').every((part) => { const [a, b] = part.split('-').map(Number); return b === undefined || b >= a!; }), 'a range of shard ids runs upwards (0-3, not 3-0)')
    .default('')
    .transform((v) => (v === '' ? null : v.split(',').flatMap((part) => {
      const [a, b] = part.split('-').map(Number);
      return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
    }))),
  /**
   * How long a gateway's hold on its shards lasts without renewal: after a crash, the next gateway
   * waits at most this long before resuming the session (and Discord replays what was missed).
   */
  GATEWAY_LEASE_MS: int(15_000),
  /** How long log-in to the gateway may take before chorus says something is wrong. */
  GATEWAY_READY_TIMEOUT_MS: int(30_000),
  /** Guild where `npm run commands:register` installs slash commands; empty registers them globally. */
  DISCORD_GUILD_ID: z.string().regex(/^\d*$/).default(''),
  /**
   * The bearer token of the admin pages (/metrics, the queue dashboard). Unset or empty: no process
   * serves them (each says so once in its log).
   */
  ADMIN_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16, 'at least 16 characters (try `openssl rand -hex 24`)').optional()),
  /** Where the admin pages listen: loopback unless you say otherwise (e.g. 0.0.0.0 in a container). */
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  /** The gateway's admin port (/metrics and the queue dashboard); 0 picks a free one. */
  GATEWAY_ADMIN_PORT: port(9464),
  /** Each worker's admin port (/metrics); 0 picks a free one (several workers on one machine). */
  WORKER_ADMIN_PORT: port(9465),
  /** How often workers check each model host that has its key (ms); 0 turns health checks off. */
  HEALTH_CHECK_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Time limit of one health check (ms). */
  HEALTH_CHECK_TIMEOUT_MS: int(10_000),
  /** Tokens (in + out) a server's personas may use per UTC day, all together; 0 = no limit. /config can set it per server. */
  GUILD_DAILY_TOKENS: z.coerce.number().int().min(0).default(0),
  /** Tokens (in + out) each persona may use per UTC day in a server; 0 = no limit. /config can set it per server. */
  PERSONA_DAILY_TOKENS: z.coerce.number().int().min(0).default(0),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The variables that are set: one set to nothing (`WORKER_CONCURRENCY=` in a .env copied from the
 * template) is unset, so its default holds and a required one is reported missing.
 */
export function setVariables(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(setVariables(env));
  if (!result.success) {
    throw new ConfigError(`invalid configuration:\n${describeIssues(result.error)}`);
  }
  return result.data;
}

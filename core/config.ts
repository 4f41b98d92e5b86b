// Configuration from the environment, validated once at start-up. `.env.example` documents each variable.
import { z } from 'zod';

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const ConfigSchema = z.object({
  DISCORD_TOKEN: z.string().min(1, 'set DISCORD_TOKEN to the bot token'),
  /** Override only to point at a REST proxy or a local stand-in. */
  DISCORD_API_URL: z.url().default('https://discord.com/api'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Namespaces chorus's Redis keys and queues, so several installs can share one Redis. */
  CHORUS_PREFIX: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('chorus'),
  PERSONAS_DIR: z.string().default('personas'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Replies one worker process generates at once. */
  WORKER_CONCURRENCY: int(8),
  /** How long a worker holds a job before others may take it over; crash recovery takes about this long. */
  JOB_LOCK_MS: int(10_000),
  /** How often workers look for jobs whose worker died. */
  STALLED_CHECK_MS: int(5_000),
  /** Attempts per reply (first try included) for retryable host failures: 429, 5xx, overload, network. */
  REPLY_ATTEMPTS: int(4),
  /** First retry delay; later ones double. */
  RETRY_BACKOFF_MS: int(2_000),
  MODEL_TIMEOUT_MS: int(120_000),
  HISTORY_MESSAGES: int(40),
  HISTORY_TOKENS: int(6_000),
  /** How long chorus remembers which persona sent a message (replies to older posts go unrouted). */
  POST_MEMORY_DAYS: int(90),
  /** Guild where `npm run commands:register` installs slash commands; empty registers them globally. */
  DISCORD_GUILD_ID: z.string().regex(/^\d*$/).default(''),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** The application id is the first part of a bot token (base64 of the user id). */
export function applicationIdFromToken(token: string): string {
  const first = token.split('.')[0] ?? '';
  const id = Buffer.from(first, 'base64').toString('utf8');
  if (!/^\d+$/.test(id)) throw new ConfigError('DISCORD_TOKEN does not look like a bot token');
  return id;
}

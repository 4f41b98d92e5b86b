// Structured logs. Secrets are redacted by key so a careless `log.info({ ... })` cannot leak them.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = ['token', 'apiKey', 'api_key', 'authorization', 'Authorization', 'password', 'webhookToken', 'x-api-key'];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), ...SECRET_KEYS.map((k) => `*.*.${k}`), 'headers', '*.headers'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A short, secret-free description of an error for logs and notices. */
export function describeError(err: unknown): { message: string; status?: number; type?: string } {
  const e = err as { message?: unknown; status?: unknown; error?: { type?: unknown; error?: { type?: unknown } }; name?: unknown };
  const status = typeof e?.status === 'number' ? e.status : undefined;
  const type = e?.error?.error?.type ?? e?.error?.type ?? e?.name;
  // Scrubbed whole, then cut: cut first, a secret at the cut would lose the tail that makes it recognisable.
  const message = scrubSecrets(String(e?.message ?? err)).slice(0, 300);
  return { message, ...(status === undefined ? {} : { status }), ...(typeof type === 'string' ? { type } : {}) };
}

/** The secrets this process holds, by value (keepSecret). */
const secrets = new Set<string>();

/**
 * Remembers a secret this process holds (a model key handed to an SDK, the bot token, an admin or
 * upload token), so scrubSecrets blanks it wherever it appears, whatever it looks like: a host's
 * error may echo a key of any shape. Values under 8 characters are not kept: they are no real
 * secret, and blanking them would blank ordinary words.
 */
export function keepSecret(value: string | undefined): void {
  if (value && value.length >= 8) secrets.add(value);
}

/**
 * Blanks secrets inside free text (error messages echo URLs, headers and keys): every value
 * keepSecret was given, and what is shaped like one — keys (`sk-…`), webhook URLs, bot tokens, and
 * any unbroken run of 48 or more token characters (webhook and interaction tokens, bare or
 * percent-encoded).
 */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out
    .replace(/\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,})/g, '[redacted]')
    .replace(/\/webhooks\/(\d+)\/[A-Za-z0-9_-]+/g, '/webhooks/$1/[redacted]')
    .replace(/\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}\b/g, '[redacted]')
    .replace(/[A-Za-z0-9_-]{48,}/g, '[redacted]');
}

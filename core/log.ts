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
  const message = String(e?.message ?? err).slice(0, 300);
  return { message: scrubSecrets(message), ...(status === undefined ? {} : { status }), ...(typeof type === 'string' ? { type } : {}) };
}

/** Blanks things shaped like keys and tokens inside free text (error messages echo URLs and headers). */
export function scrubSecrets(text: string): string {
  return text
    .replace(/\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,})/g, '[redacted]')
    .replace(/\/webhooks\/(\d+)\/[A-Za-z0-9_-]+/g, '/webhooks/$1/[redacted]')
    .replace(/\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}\b/g, '[redacted]');
}

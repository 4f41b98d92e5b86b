// Shared start-up for chorus's processes: configuration, personas and protocols, and the services
// they need, with every failure told in one plain line (what is wrong, what to do) and a non-zero exit.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DiscordAPIError } from './discord-rest.ts';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger, describeError, type Logger } from './log.ts';
import { availability, loadPersonas, PersonaFileError } from '../personas/load.ts';
import { hostWarnings, type Persona } from '../personas/schema.ts';
import { checkProtocolPersonas, loadProtocols, ProtocolFileError, type LoadedProtocol } from '../protocols/schema.ts';

export interface Started {
  config: Config;
  log: Logger;
  personas: Persona[];
  protocols: Map<string, LoadedProtocol>;
}

/** Stops the process with one line on standard error. */
export function stop(name: string, message: string): never {
  console.error(`chorus ${name}: ${message}`);
  process.exit(1);
}

/**
 * A command's options, read from its command line. An option it does not know, or one given without
 * its value, is told in one line with the command's usage (exit 2), never as a stack trace.
 */
export function readCommandLine<T extends ParseArgsConfig>(name: string, usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err);
    console.error(`${name}: ${message}. ${usage}`);
    process.exit(2);
  }
}

/** Reads `.env` when there is one; variables already set win. */
export function loadDotEnv(): void {
  try {
    process.loadEnvFile('.env');
  } catch {
    // No .env: the environment is the configuration.
  }
}

export async function startUp(name: string, opts: { personas?: boolean; redis?: boolean } = {}): Promise<Started> {
  loadDotEnv();
  let started: Started;
  try {
    const config = loadConfig();
    const log = createLogger(name, config.LOG_LEVEL);
    const personas = opts.personas === false ? [] : await loadPersonas(config.PERSONAS_DIR);
    for (const a of availability(personas, process.env)) {
      if (a.usableHosts === 0) log.warn({ persona: a.persona.id, missingKeys: a.missingKeys }, 'persona unavailable: no host has its key set');
      for (const warning of hostWarnings(a.persona)) log.warn({ persona: a.persona.id }, warning);
    }
    const protocols = opts.personas === false ? new Map<string, LoadedProtocol>() : await loadProtocols(config.PROTOCOLS_DIR);
    if (opts.personas !== false) checkProtocolPersonas(protocols, personas);
    started = { config, log, personas, protocols };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PersonaFileError || err instanceof ProtocolFileError) stop(name, err.message);
    throw err;
  }
  if (opts.redis !== false) {
    const problem = await redisProblem(started.config.REDIS_URL);
    if (problem) stop(name, problem);
  }
  return started;
}

/** Why Redis cannot be used, in one line with what to do; undefined when it answers. */
export async function redisProblem(url: string): Promise<string | undefined> {
  let redis: Redis;
  try {
    redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  } catch (err) {
    return `REDIS_URL is not an address chorus can read (${describeError(err).message}): write it like redis://host:6379.`;
  }
  let lastError: string | undefined;
  redis.on('error', (err: { code?: string }) => (lastError = err.code ?? lastError));
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    const where = url.replace(/\/\/[^@/]*@/, '//');
    const e = err as { code?: string; message?: string };
    return `cannot reach Redis at ${where} (${e.code ?? lastError ?? describeError(err).message}). chorus keeps its queue there: start one (\`redis-server\`, or \`docker compose up -d redis\`) or set REDIS_URL.`;
  } finally {
    redis.disconnect();
  }
}

/** A failure talking to Discord at start, in one line with what to do. */
export function explainStartFailure(err: unknown, apiUrl: string): string {
  if (err instanceof DiscordAPIError && err.status === 401) {
    return 'Discord refused DISCORD_TOKEN (HTTP 401): it is wrong, or was reset. Copy the token from the developer portal (Bot → Reset Token) into DISCORD_TOKEN.';
  }
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e?.cause?.code ?? e?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT' || /fetch failed/.test(String(e?.message))) {
    return `cannot reach Discord at ${new URL(apiUrl).host} (${code ?? 'network error'}). Check this machine's network, or DISCORD_API_URL if you set it.`;
  }
  return `Discord could not be used: ${describeError(err).message}`;
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits. */
export function onShutdown(log: Logger, close: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      close().then(
        () => process.exit(0),
        (err: Error) => {
          log.error({ err: err.message }, 'unclean stop');
          process.exit(1);
        },
      );
    });
  }
}

// chorus on one machine without a Discord application: the local Discord stand-in plays Discord,
// the slash commands are registered with it over REST (as `commands:register` does with Discord),
// and the real gateway and worker run in this process on the real Redis queue, calling the stand-in
// through the same REST client they use in production.
import { Routes } from 'discord-api-types/v10';
import { Redis } from 'ioredis';
import { startGateway, type RunningGateway } from '../bot/gateway.ts';
import { commandDefinitions } from '../commands/index.ts';
import { loadConfig, type Config } from '../core/config.ts';
import { createRest } from '../core/rest.ts';
import type { Logger } from '../core/log.ts';
import { startDiscordStandIn, type DiscordStandIn } from '../local-discord/server.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';
import { startWorker, type RunningWorker } from '../workers/worker.ts';
import type { CommandDefinition } from './command-line.ts';
import { deletePrefix } from './redis.ts';

export interface PlaygroundChorus {
  discord: DiscordStandIn;
  config: Config;
  definitions: CommandDefinition[];
  close(): Promise<void>;
}

export interface ChorusOptions {
  /** The environment after .env: model keys and tuning; Discord, Redis and records are set here. */
  env: Record<string, string | undefined>;
  personas: Persona[];
  protocols: ReadonlyMap<string, LoadedProtocol>;
  redisUrl: string;
  recordsPath: string;
  /** This run's Redis key prefix: the stand-in's ids live only as long as the process. */
  prefix: string;
  log: Logger;
}

/** The configuration the processes get: the stand-in as Discord, never the user's bot or database. */
export function playgroundEnv(base: Record<string, string | undefined>, o: { token: string; restUrl: string; guildId: string; redisUrl: string; prefix: string; recordsPath: string }): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    ...base,
    DISCORD_TOKEN: o.token,
    DISCORD_API_URL: o.restUrl,
    DISCORD_REST_PROXIED: 'false',
    DISCORD_GUILD_ID: o.guildId,
    SHARD_COUNT: 'auto',
    SHARD_IDS: '',
    REDIS_URL: o.redisUrl,
    CHORUS_PREFIX: o.prefix,
    RECORDS_PATH: o.recordsPath,
    LOG_LEVEL: base.PLAYGROUND_LOG_LEVEL ?? 'warn',
  };
  // Dry runs stay out of the research database a deployment may name.
  delete env.DATABASE_URL;
  return env;
}

export async function startChorus(o: ChorusOptions): Promise<PlaygroundChorus> {
  const discord = await startDiscordStandIn();
  const env = playgroundEnv(o.env, { token: discord.token, restUrl: discord.restUrl, guildId: discord.guildId, redisUrl: o.redisUrl, prefix: o.prefix, recordsPath: o.recordsPath });
  const config = loadConfig(env);
  const definitions = await commandDefinitions();
  await createRest(discord.restUrl, discord.token).put(Routes.applicationGuildCommands(discord.applicationId, discord.guildId), { body: definitions });

  let gateway: RunningGateway | undefined;
  let worker: RunningWorker | undefined;
  try {
    gateway = startGateway(config, o.personas, o.log.child({ part: 'gateway' }), { env, protocols: o.protocols });
    await gateway.ready;
    worker = startWorker(config, o.personas, env, o.log.child({ part: 'worker' }));
    await worker.worker?.waitUntilReady();
    await worker.interviews.waitUntilReady();
  } catch (err) {
    await worker?.close();
    await gateway?.close();
    await discord.close();
    throw err;
  }
  return {
    discord,
    config,
    definitions,
    async close() {
      await worker?.close();
      await gateway?.close();
      await discord.close();
      await forgetRun(o.redisUrl, o.prefix);
    },
  };
}

/** Deletes this run's keys: its gateway session and queues name a Discord that no longer exists. */
async function forgetRun(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await deletePrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

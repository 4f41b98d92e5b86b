// What the gateway and its commands share: the stores (built as the workers build them), Discord's
// REST client and the guild facts, the configuration, personas and protocols.
import type { REST } from '@discordjs/rest';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import type { Stores } from '../core/stores.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';
import type { GuildFacts } from './guild-facts.ts';

export interface Services extends Stores {
  config: Config;
  personas: readonly Persona[];
  env: Record<string, string | undefined>;
  log: Logger;
  protocols: ReadonlyMap<string, LoadedProtocol>;
  rest: REST;
  guildFacts: GuildFacts;
  /** Webhooks chorus posts through (their messages are the workers' to record and route). */
  isOurWebhook(webhookId: string): Promise<boolean>;
}

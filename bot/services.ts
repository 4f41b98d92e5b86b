// What the gateway and its commands share: the stores (built as the workers build them), the
// configuration, personas and protocols.
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { openStores, type Stores } from '../core/stores.ts';
import type { Persona } from '../personas/schema.ts';
import type { LoadedProtocol } from '../protocols/schema.ts';

export interface Services extends Stores {
  config: Config;
  personas: readonly Persona[];
  env: Record<string, string | undefined>;
  log: Logger;
  protocols: ReadonlyMap<string, LoadedProtocol>;
  /** Webhooks chorus posts through (their messages are the workers' to record and route). */
  isOurWebhook(webhookId: string): Promise<boolean>;
}

export function createServices(
  config: Config,
  personas: readonly Persona[],
  env: Record<string, string | undefined>,
  log: Logger,
  protocols: ReadonlyMap<string, LoadedProtocol> = new Map(),
): Services {
  const stores = openStores(config, personas.map((p) => p.id), log);
  return {
    ...stores,
    config,
    personas,
    env,
    log,
    protocols,
    isOurWebhook: async (webhookId) => (await stores.redis.sismember(`${config.CHORUS_PREFIX}:our-webhooks`, webhookId)) === 1,
  };
}

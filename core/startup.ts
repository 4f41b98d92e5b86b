// Shared start-up for the two processes: config and personas, with failures told plainly.
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { availability, loadPersonas, PersonaFileError } from '../personas/load.ts';
import type { Persona } from '../personas/schema.ts';
import { loadProtocols, ProtocolFileError, type LoadedProtocol } from '../protocols/schema.ts';

export async function startUp(name: string): Promise<{ config: Config; log: Logger; personas: Persona[]; protocols: Map<string, LoadedProtocol> }> {
  try {
    const config = loadConfig();
    const log = createLogger(name, config.LOG_LEVEL);
    const personas = await loadPersonas(config.PERSONAS_DIR);
    for (const a of availability(personas, process.env)) {
      if (a.usableHosts === 0) log.warn({ persona: a.persona.id, missingKeys: a.missingKeys }, 'persona unavailable: no host has its key set');
    }
    const protocols = await loadProtocols(config.PROTOCOLS_DIR);
    return { config, log, personas, protocols };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PersonaFileError || err instanceof ProtocolFileError) {
      console.error(`chorus ${name}: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      stop().then(
        () => process.exit(0),
        (err: Error) => {
          log.error({ err: err.message }, 'unclean stop');
          process.exit(1);
        },
      );
    });
  }
}

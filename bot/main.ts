// Gateway process entry: `node bot/main.ts`. One process per shard group: a second one for the same
// shards waits until the first stops (a rolling deploy), so no message is routed twice.
import { explainStartFailure, onShutdown, startUp, stop } from '../core/startup.ts';
import { defaultSettings } from '../core/settings.ts';
import { startGateway } from './gateway.ts';
import { warmUp } from './warm-up.ts';

const { config, log, personas, protocols } = await startUp('gateway');
warmUp(personas, defaultSettings(config, personas.map((p) => p.id)));
const gateway = startGateway(config, personas, log, {
  protocols,
  onFatal: (message) => void gateway.close().finally(() => stop('gateway', message)),
});
onShutdown(log, () => gateway.close());
await gateway.ready.catch((err: unknown) => gateway.close().finally(() => stop('gateway', explainStartFailure(err, config.DISCORD_API_URL))));

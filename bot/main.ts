// Gateway process entry: `node bot/main.ts`. Run exactly one per bot token.
import { onShutdown, startUp } from '../core/startup.ts';
import { startGateway } from './gateway.ts';

const { config, log, personas } = await startUp('gateway');
const gateway = startGateway(config, personas, log);
await gateway.ready;
onShutdown(log, () => gateway.close());

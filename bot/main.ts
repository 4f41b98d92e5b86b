// Gateway process entry: `node bot/main.ts`. Run exactly one per bot token.
import { onShutdown, startUp } from '../core/startup.ts';
import { startGateway } from './gateway.ts';

const { config, log, personas, protocols } = await startUp('gateway');
const gateway = startGateway(config, personas, log, { protocols });
await gateway.ready;
onShutdown(log, () => gateway.close());

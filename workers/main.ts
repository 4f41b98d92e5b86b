// Worker process entry: `node workers/main.ts`. Run as many as you like, on as many machines.
import { onShutdown, startUp, stop } from '../core/startup.ts';
import { startWorker } from './worker.ts';

const { config, log, personas } = await startUp('worker');
const running = startWorker(config, personas, process.env, log, {
  // Nothing a retry can mend: stop, saying why (the jobs in hand go back to the queue).
  onFatal: (err) => void running.close().finally(() => stop('worker', err.message)),
});
await running.worker?.waitUntilReady();
await running.interviews.waitUntilReady();
log.info({ personas: personas.length, concurrency: config.WORKER_CONCURRENCY }, 'worker ready');
// close() lets the turns in hand finish; a job cut off by a hard kill is taken over by another worker.
onShutdown(log, () => running.close());

// Worker process entry: `node workers/main.ts`. Run as many as you like, on as many machines.
import { createBotIdentity } from '../core/application.ts';
import { createRest } from '../core/rest.ts';
import { createRestGate } from '../core/rest-gate.ts';
import { explainStartFailure, onShutdown, startUp, stop } from '../core/startup.ts';
import { warmUp } from './warm-up.ts';
import { startWorker } from './worker.ts';

const { config, log, personas } = await startUp('worker');
// Ask Discord who the bot is before taking any job: a wrong token or an unreachable Discord is
// said now, in one line, not on the first reply. Through the shared gate like every request with
// the bot's token: asked beside it, a burst of the other processes' requests went past 50 a second.
{
  const { Redis } = await import('ioredis');
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  try {
    const rest = createRest(config.DISCORD_API_URL, config.DISCORD_TOKEN, config.DISCORD_REST_PROXIED ? { proxied: true } : { gate: createRestGate(redis, config.CHORUS_PREFIX) });
    await createBotIdentity(rest, redis, config.CHORUS_PREFIX, config.DISCORD_TOKEN).botUserId();
  } catch (err) {
    redis.disconnect();
    stop('worker', explainStartFailure(err, config.DISCORD_API_URL));
  }
  redis.disconnect();
}
await warmUp(personas, log);
const running = startWorker(config, personas, process.env, log, {
  // Nothing a retry can mend: stop, saying why (the jobs in hand go back to the queue).
  onFatal: (err) => void running.close().finally(() => stop('worker', err.message)),
});
await running.worker?.waitUntilReady();
await running.interviews.waitUntilReady();
log.info({ personas: personas.length, concurrency: config.WORKER_CONCURRENCY }, 'worker ready');
// close() lets the turns in hand finish; a job cut off by a hard kill is taken over by another worker.
onShutdown(log, () => running.close());

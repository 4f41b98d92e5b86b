// `npm run playground`: chorus on this machine with no Discord application — a local Discord, the
// real gateway and worker on Redis, and a page at http://127.0.0.1:4800 to talk to the personas.
import { createLogger } from '../core/log.ts';
import { loadDotEnv, onShutdown, stop } from '../core/startup.ts';
import { PlaygroundStartError, startPlayground } from '../playground/start.ts';

loadDotEnv();
try {
  const playground = await startPlayground(process.env);
  for (const line of playground.summary) console.log(line);
  console.log('  Ctrl-C stops it.');
  onShutdown(createLogger('playground', 'warn'), () => playground.close());
} catch (err) {
  if (err instanceof PlaygroundStartError) stop('playground', err.message);
  throw err;
}

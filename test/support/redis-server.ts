// A redis-server of a test's own, with append-only persistence (the shared one keeps nothing on
// disk), for tests of what survives a Redis crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { freePort } from '../../playground/redis.ts';

export interface OwnRedis {
  url: string;
  /** A hard crash: no shutdown, no final save. */
  crash(): Promise<void>;
  /** Starts again on the same port and files. */
  restart(): Promise<void>;
  stop(): void;
}

function start(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => line.includes('Ready to accept connections') && resolve(child));
  });
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = await mkdtemp(`${tmpdir()}/chorus-aof-`);
  let server = await start(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    async crash() {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGKILL');
      await gone;
    },
    async restart() {
      server = await start(port, dir);
    },
    stop: () => void server.kill('SIGKILL'),
  };
}

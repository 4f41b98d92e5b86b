// The playground's Redis: the one REDIS_URL names when it answers; else a private redis-server of
// its own (no persistence, loopback, a free port), stopped with the playground; else one line on
// how to get one.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { redisProblem } from '../core/startup.ts';

export type RedisPlan = 'use' | 'start-private' | 'explain';

/** What to do about Redis. Pure. */
export function redisPlan(reachable: boolean, installed: boolean): RedisPlan {
  if (reachable) return 'use';
  return installed ? 'start-private' : 'explain';
}

export function noRedisMessage(url: string): string {
  const where = url.replace(/\/\/[^@/]*@/, '//');
  return `no Redis answers at ${where} and redis-server is not installed: install it (Debian/Ubuntu \`sudo apt-get install redis-server\`, macOS \`brew install redis\`), or run \`docker run -d -p 6379:6379 redis:7\`, or set REDIS_URL.`;
}

/** The path of a program on PATH, if any. */
export function onPath(program: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** A TCP port free on loopback just now (for a server of our own). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Deletes every key under `prefix:` (one run's, one test's), a batch at a time (SCAN, not KEYS). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
    if (keys.length) await redis.del(...keys);
  }
}

export interface PlaygroundRedis {
  url: string;
  /** True when the playground started it (and stops it on close). */
  private: boolean;
  close(): Promise<void>;
}

export async function ensureRedis(url: string): Promise<PlaygroundRedis | { error: string }> {
  const reachable = (await redisProblem(url)) === undefined;
  const server = onPath('redis-server');
  const plan = redisPlan(reachable, server !== undefined);
  if (plan === 'use') return { url, private: false, close: async () => {} };
  if (plan === 'explain' || !server) return { error: noRedisMessage(url) };
  const port = await freePort();
  // Its own process group: Ctrl-C in the terminal reaches the playground only, which stops the
  // gateway and worker first and Redis last (stopped first, they would hang retrying it).
  const child = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const stopOnExit = () => child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<boolean>((resolve) => {
    child.once('exit', () => resolve(false));
    child.once('error', () => resolve(false));
    lines.on('line', (line) => line.includes('Ready to accept connections') && resolve(true));
  });
  if (!ready) return { error: `a private redis-server (${server}) did not start; start Redis yourself and set REDIS_URL.` };
  return {
    url: `redis://127.0.0.1:${port}`,
    private: true,
    close: () =>
      new Promise<void>((resolve) => {
        process.off('exit', stopOnExit);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

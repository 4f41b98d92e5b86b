// What chorus keeps in Redis survives a Redis crash when Redis runs with append-only persistence,
// as docker-compose runs it: queued turns, their drain job, and which persona sent which post.
// This test runs its own redis-server (the shared one keeps nothing on disk).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../core/ledger.ts';
import { createDrainQueue, createTurnStore, REPLY_QUEUE, type DrainJob, type Turn } from '../../core/turns.ts';

let server: ChildProcess | undefined;
afterAll(() => {
  server?.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts redis-server with append-only persistence; resolves once it accepts connections. */
function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => line.includes('Ready to accept connections') && resolve(child));
  });
}

describe('Redis with append-only persistence', () => {
  it('keeps queued turns, their drain job and the post ledger across a crash', async () => {
    const port = await freePort();
    const dir = await mkdtemp(`${tmpdir()}/chorus-aof-`);
    server = await startRedis(port, dir);
    const prefix = 'durable';
    let redis = new Redis({ port, maxRetriesPerRequest: null });
    let queue = createDrainQueue(redis, prefix);
    const turn = (id: string, personaId: string): Turn => ({
      v: 2,
      channelId: 'c1',
      personaId,
      reason: 'named',
      depth: 1,
      trigger: { id, authorId: 'u', authorName: 'Alice', content: 'hi', isBot: false, createdAt: '' },
      receivedAt: 0,
    });
    expect(await createTurnStore(redis, queue, prefix, 600).append([turn('100', 'opus'), turn('100', 'gpt')])).toBe(2);
    await createLedger(redis, prefix, 1).recordPost('99', 'opus', 0, { messageId: '555', webhookId: 'w', final: true }, 1);
    await queue.close();
    await redis.quit();

    // A hard crash: no shutdown, no final save.
    const crashed = new Promise((r) => server!.once('exit', r));
    server.kill('SIGKILL');
    await crashed;
    server = await startRedis(port, dir);

    redis = new Redis({ port, maxRetriesPerRequest: null });
    queue = createDrainQueue(redis, prefix);
    const turns = createTurnStore(redis, queue, prefix, 600);
    expect(await turns.pending('c1')).toBe(2);
    expect((await turns.head('c1'))?.turn.personaId).toBe('opus');
    expect(await createLedger(redis, prefix, 1).postOf('555')).toEqual({ personaId: 'opus', depth: 1 });
    // The drain job is still queued, and a worker takes it.
    let resolveTaken!: (job: DrainJob) => void;
    const taken = new Promise<DrainJob>((resolve) => (resolveTaken = resolve));
    const worker = new Worker<DrainJob>(REPLY_QUEUE, async (job) => resolveTaken(job.data), { connection: redis, prefix });
    expect(await taken).toEqual({ channelId: 'c1' });
    await worker.close();
    await queue.close();
    await redis.quit();
  });
});

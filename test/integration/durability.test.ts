// What chorus keeps in Redis survives a Redis crash when Redis runs with append-only persistence,
// as docker-compose runs it: queued reply jobs, and which persona sent which post.
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
import { createReplyQueue, jobIds, REPLY_QUEUE, type ReplyJob } from '../../core/replies.ts';

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
  it('keeps queued reply jobs and the post ledger across a crash', async () => {
    const port = await freePort();
    const dir = await mkdtemp(`${tmpdir()}/chorus-aof-`);
    server = await startRedis(port, dir);
    const prefix = 'durable';
    let redis = new Redis({ port, maxRetriesPerRequest: null });
    let replies = createReplyQueue(redis, prefix, { attempts: 3, backoffMs: 100 });
    const trigger = { id: '100', authorId: 'u', authorName: 'Alice', content: 'hi', isBot: false, createdAt: '' };
    const job: ReplyJob = {
      v: 3,
      channelId: 'c1',
      settings: { roster: [], interjectionProbability: 0, chainDepth: 2, cooldownSeconds: 0, repliesPerMinute: 20, historyMessages: 40 },
      turns: [{ personaId: 'opus', reason: 'named', depth: 1, trigger }, { personaId: 'gpt', reason: 'named', depth: 1, trigger }],
      receivedAt: 0,
    };
    await replies.add(jobIds.message('100'), job);
    await createLedger(redis, prefix, 1).recordPost('99', 'opus', 0, { messageId: '555', webhookId: 'w', final: true }, { depth: 1, notice: false });
    await replies.close();
    await redis.quit();

    // A hard crash: no shutdown, no final save.
    const crashed = new Promise((r) => server!.once('exit', r));
    server.kill('SIGKILL');
    await crashed;
    server = await startRedis(port, dir);

    redis = new Redis({ port, maxRetriesPerRequest: null });
    replies = createReplyQueue(redis, prefix, { attempts: 3, backoffMs: 100 });
    expect(await createLedger(redis, prefix, 1).postOf('555')).toEqual({ personaId: 'opus', depth: 1, notice: false });
    // The job is still queued, with its turns in order, and a worker takes it.
    let resolveTaken!: (job: ReplyJob) => void;
    const taken = new Promise<ReplyJob>((resolve) => (resolveTaken = resolve));
    const worker = new Worker<ReplyJob>(REPLY_QUEUE, async (j) => resolveTaken(j.data), { connection: redis, prefix });
    expect((await taken).turns.map((t) => t.personaId)).toEqual(['opus', 'gpt']);
    await worker.close();
    await replies.close();
    await redis.quit();
  });
});

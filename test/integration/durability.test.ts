// What chorus keeps in Redis survives a Redis crash when Redis runs with append-only persistence,
// as docker-compose runs it: queued reply jobs, and which persona sent which post.
// This test runs its own redis-server (the shared one keeps nothing on disk).
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../core/ledger.ts';
import { createReplyQueue, jobIds, REPLY_QUEUE, type ReplyJob } from '../../core/replies.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';

let server: OwnRedis | undefined;
afterAll(() => server?.stop());

describe('Redis with append-only persistence', () => {
  it('keeps queued reply jobs and the post ledger across a crash', async () => {
    server = await startOwnRedis();
    const prefix = 'durable';
    let redis = new Redis(server.url, { maxRetriesPerRequest: null });
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

    await server.crash();
    await server.restart();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
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

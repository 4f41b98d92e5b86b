// What chorus remembers in Redis about its own posts: which persona sent each message, and how
// far each reply got, so a retried job neither loses nor repeats a reply.
import type { Redis } from 'ioredis';

export interface ReplyProgress {
  /** The generated text, saved before posting so a retry posts the same words without re-asking. */
  text?: string;
  /** Message ids of the pieces already posted, by piece index. */
  posted: Map<number, string>;
  /** A piece whose post was sent but whose answer was not recorded (the worker died in between). */
  pending: Set<number>;
  done: boolean;
}

export interface Ledger {
  personaOfPost(messageId: string): Promise<string | undefined>;
  personasOfPosts(messageIds: readonly string[]): Promise<Map<string, string>>;
  progress(triggerId: string, personaId: string): Promise<ReplyProgress>;
  saveText(triggerId: string, personaId: string, text: string, meta: object): Promise<void>;
  markPending(triggerId: string, personaId: string, piece: number): Promise<void>;
  recordPost(triggerId: string, personaId: string, piece: number, messageId: string): Promise<void>;
  markDone(triggerId: string, personaId: string): Promise<void>;
}

export function createLedger(redis: Redis, prefix: string, memoryDays: number): Ledger {
  const ttl = memoryDays * 24 * 3600;
  const postKey = (id: string) => `${prefix}:post:${id}`;
  const replyKey = (trigger: string, persona: string) => `${prefix}:reply:${trigger}:${persona}`;

  return {
    async personaOfPost(messageId) {
      return (await redis.get(postKey(messageId))) ?? undefined;
    },
    async personasOfPosts(messageIds) {
      const found = new Map<string, string>();
      if (messageIds.length === 0) return found;
      const values = await redis.mget(messageIds.map(postKey));
      values.forEach((v, i) => v && found.set(messageIds[i]!, v));
      return found;
    },
    async progress(triggerId, personaId) {
      const fields = await redis.hgetall(replyKey(triggerId, personaId));
      const posted = new Map<number, string>();
      const pending = new Set<number>();
      for (const [field, value] of Object.entries(fields)) {
        const [kind, index] = field.split(':');
        if (kind === 'posted') posted.set(Number(index), value);
        if (kind === 'pending') pending.add(Number(index));
      }
      for (const i of posted.keys()) pending.delete(i);
      return { ...(fields.text === undefined ? {} : { text: fields.text }), posted, pending, done: fields.done === '1' };
    },
    async saveText(triggerId, personaId, text, meta) {
      const key = replyKey(triggerId, personaId);
      // HSETNX: if two workers ever raced, both post the first text saved.
      await redis.multi().hsetnx(key, 'text', text).hsetnx(key, 'meta', JSON.stringify(meta)).expire(key, ttl).exec();
    },
    async markPending(triggerId, personaId, piece) {
      await redis.hset(replyKey(triggerId, personaId), `pending:${piece}`, String(Date.now()));
    },
    async recordPost(triggerId, personaId, piece, messageId) {
      await redis
        .multi()
        .set(postKey(messageId), personaId, 'EX', ttl)
        .hset(replyKey(triggerId, personaId), `posted:${piece}`, messageId)
        .exec();
    },
    async markDone(triggerId, personaId) {
      await redis.hset(replyKey(triggerId, personaId), 'done', '1');
    },
  };
}

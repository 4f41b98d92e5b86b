// What chorus remembers in Redis about its own posts: which persona sent each message (Discord
// cannot tell), how far each reply got (so a retried turn neither loses nor repeats a reply), and
// recent activity per channel (for cooldowns and rate caps).
import type { Redis } from 'ioredis';

export interface PostedPiece {
  messageId: string;
  webhookId: string;
  /** False while a streaming preview stands in for the final text. */
  final: boolean;
}

export interface ReplyProgress {
  /** The generated text, saved before posting so a retry posts the same words without re-asking. */
  text?: string;
  /** What was saved with the text (JSON). */
  meta?: string;
  /** Pieces already posted, by index. */
  posted: Map<number, PostedPiece>;
  /** A piece whose post was sent but whose answer was not recorded (the worker died in between). */
  pending: Set<number>;
  done: boolean;
  /** Attempts started so far, this one included once `startAttempt` ran. */
  attempts: number;
}

export interface ChannelActivity {
  lastPostAt: Map<string, number>;
  ambientRepliesLastMinute: number;
}

export interface PersonaPost {
  personaId: string;
  /** Chain depth: persona posts since the last human message. */
  depth: number;
}

export interface Ledger {
  postOf(messageId: string): Promise<PersonaPost | undefined>;
  personasOfPosts(messageIds: readonly string[]): Promise<Map<string, string>>;
  progress(triggerId: string, personaId: string): Promise<ReplyProgress>;
  startAttempt(triggerId: string, personaId: string): Promise<number>;
  saveText(triggerId: string, personaId: string, text: string, meta: object): Promise<void>;
  markPending(triggerId: string, personaId: string, piece: number): Promise<void>;
  recordPost(triggerId: string, personaId: string, piece: number, posted: PostedPiece, depth: number): Promise<void>;
  markDone(triggerId: string, personaId: string): Promise<void>;
  activity(channelId: string, now: number): Promise<ChannelActivity>;
  notePost(channelId: string, personaId: string, at: number): Promise<void>;
  noteAmbient(channelId: string, count: number, at: number): Promise<void>;
}

export function createLedger(redis: Redis, prefix: string, memoryDays: number): Ledger {
  const ttl = memoryDays * 24 * 3600;
  const postKey = (id: string) => `${prefix}:post:${id}`;
  const replyKey = (trigger: string, persona: string) => `${prefix}:reply:${trigger}:${persona}`;
  const lastPostKey = (channel: string) => `${prefix}:last-post:${channel}`;
  const ambientKey = (channel: string) => `${prefix}:ambient:${channel}`;

  return {
    async postOf(messageId) {
      const raw = await redis.get(postKey(messageId));
      if (raw === null) return undefined;
      const [personaId, depth] = raw.split(' ');
      return { personaId: personaId!, depth: Number(depth ?? 1) };
    },
    async personasOfPosts(messageIds) {
      const found = new Map<string, string>();
      if (messageIds.length === 0) return found;
      const values = await redis.mget(messageIds.map(postKey));
      values.forEach((v, i) => v && found.set(messageIds[i]!, v.split(' ')[0]!));
      return found;
    },
    async progress(triggerId, personaId) {
      const fields = await redis.hgetall(replyKey(triggerId, personaId));
      const posted = new Map<number, PostedPiece>();
      const pending = new Set<number>();
      for (const [field, value] of Object.entries(fields)) {
        const [kind, index] = field.split(':');
        if (kind === 'posted') {
          const [messageId, webhookId, final] = value.split(' ');
          posted.set(Number(index), { messageId: messageId!, webhookId: webhookId!, final: final === 'final' });
        }
        if (kind === 'pending') pending.add(Number(index));
      }
      for (const i of posted.keys()) pending.delete(i);
      return {
        ...(fields.text === undefined ? {} : { text: fields.text }),
        ...(fields.meta === undefined ? {} : { meta: fields.meta }),
        posted,
        pending,
        done: fields.done === '1',
        attempts: Number(fields.attempts ?? 0),
      };
    },
    async startAttempt(triggerId, personaId) {
      const key = replyKey(triggerId, personaId);
      const [[, attempts]] = (await redis.multi().hincrby(key, 'attempts', 1).expire(key, ttl).exec()) as [[unknown, number]];
      return attempts;
    },
    async saveText(triggerId, personaId, text, meta) {
      const key = replyKey(triggerId, personaId);
      // HSETNX: if two workers ever raced, both post the first text saved.
      await redis.multi().hsetnx(key, 'text', text).hsetnx(key, 'meta', JSON.stringify(meta)).expire(key, ttl).exec();
    },
    async markPending(triggerId, personaId, piece) {
      await redis.hset(replyKey(triggerId, personaId), `pending:${piece}`, String(Date.now()));
    },
    async recordPost(triggerId, personaId, piece, posted, depth) {
      await redis
        .multi()
        .set(postKey(posted.messageId), `${personaId} ${depth}`, 'EX', ttl)
        .hset(replyKey(triggerId, personaId), `posted:${piece}`, `${posted.messageId} ${posted.webhookId} ${posted.final ? 'final' : 'preview'}`)
        .exec();
    },
    async markDone(triggerId, personaId) {
      await redis.hset(replyKey(triggerId, personaId), 'done', '1');
    },
    async activity(channelId, now) {
      const [last, ambient] = await Promise.all([redis.hgetall(lastPostKey(channelId)), redis.zcount(ambientKey(channelId), now - 60_000, '+inf')]);
      return { lastPostAt: new Map(Object.entries(last).map(([k, v]) => [k, Number(v)])), ambientRepliesLastMinute: ambient };
    },
    async notePost(channelId, personaId, at) {
      await redis.multi().hset(lastPostKey(channelId), personaId, String(at)).expire(lastPostKey(channelId), 24 * 3600).exec();
    },
    async noteAmbient(channelId, count, at) {
      if (count <= 0) return;
      const key = ambientKey(channelId);
      const members = Array.from({ length: count }, (_, i) => [at, `${at}-${i}-${Math.random().toString(36).slice(2, 8)}`]).flat();
      await redis.multi().zadd(key, ...members).zremrangebyscore(key, '-inf', at - 60_000).expire(key, 120).exec();
    },
  };
}

// What chorus remembers in Redis about its own posts: which persona sent each message (Discord
// cannot tell), how far each reply got (so a retried turn neither loses nor repeats a reply), and
// recent activity per channel (for cooldowns and rate caps).
import type { Redis } from 'ioredis';
import type { FailedTry } from './transcript/events.ts';
import { redisScript } from './redis-script.ts';

// The ledger's writes that must land together are scripts, not MULTI: as atomic, and sent with the
// other commands of the same moment in one write (a MULTI goes on its own).
// KEYS: the reply's hash. ARGV: text, meta, ttl. First write wins, so racing attempts post the same
// words; the reply's progress comes back with it (what it posts next), read in the same atomic step.
const SAVE_TEXT = redisScript(`
redis.call('HSETNX', KEYS[1], 'text', ARGV[1])
redis.call('HSETNX', KEYS[1], 'meta', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])`);
// KEYS: the reply's hash. ARGV: how long a finished reply is remembered (s), '1' if follow-ups are
// given, the follow-ups. A finished reply is read only to stop a re-run (a replayed event, a job run
// twice) and to route what it called for: its text and the model call saved with it (the whole
// request, kilobytes) would otherwise stay in Redis as long as the post's persona. The follow-ups
// are saved (unless an attempt saved some first) in the same step as the reply is marked done, so
// no reply is ever done without the follow-ups it called for.
const MARK_DONE = redisScript(`
if ARGV[2] == '1' then redis.call('HSETNX', KEYS[1], 'followUps', ARGV[3]) end
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('HDEL', KEYS[1], 'text', 'meta')
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 8) == 'pending:' or string.sub(field, 1, 7) == 'failed:' then redis.call('HDEL', KEYS[1], field) end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGET', KEYS[1], 'followUps')`);
// KEYS: the post's key, the reply's hash. ARGV: who and depth, ttl, the piece ('posted:<n>'), its
// state. The piece's pending mark (its content, to look for after a lost answer) is not needed once
// the post is recorded: it goes, so an entry never marked done (a notice, an interview's post) does
// not keep its text for its whole TTL.
const RECORD_POST = redisScript(`
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HDEL', KEYS[2], 'pending:' .. string.sub(ARGV[3], 8))
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1`);

export interface PostedPiece {
  messageId: string;
  webhookId: string;
  /** False while a streaming preview stands in for the final text. */
  final: boolean;
}

/** What a reply's saved text is: the model's answer, or a notice standing in for one. */
export type ReplyKind = 'reply' | 'notice';

export interface ReplyProgress {
  /** The text to post, saved before posting so a retry posts the same words without re-asking. */
  text?: string;
  /** What was saved with the text (JSON): the model call behind it, for the transcript. */
  meta?: string;
  /** Pieces already posted, by index. */
  posted: Map<number, PostedPiece>;
  /**
   * Pieces whose post was sent but whose answer was not recorded (a crash, a lost answer), with the
   * exact content sent: the retry looks for that post before sending again.
   */
  pending: Map<number, string>;
  /** The follow-up turns this reply's post called for, saved before the reply is marked done. */
  followUps?: string;
  done: boolean;
  /** Attempts started so far, this one included once `startAttempt` ran. */
  attempts: number;
  /** Earlier tries on which every host failed in passing, in order: the record of the answer keeps them. */
  failedTries: FailedTry[];
}

export interface ChannelActivity {
  lastPostAt: Map<string, number>;
  ambientRepliesLastMinute: number;
}

export interface PersonaPost {
  personaId: string;
  /** Chain depth: persona posts since the last human message. */
  depth: number;
  /** A notice ("could not answer") rather than the model's words: never read as conversation. */
  notice: boolean;
}

export interface Ledger {
  postOf(messageId: string): Promise<PersonaPost | undefined>;
  postsOf(messageIds: readonly string[]): Promise<Map<string, PersonaPost>>;
  progress(key: string, who: string): Promise<ReplyProgress>;
  startAttempt(key: string, who: string): Promise<number>;
  /** Takes back the try `beginAttempt` counted, for a run that never reached the model (Discord away as it read the history). */
  giveBackAttempt(key: string, who: string): Promise<void>;
  /** Keeps what the hosts did on a try that ended with all of them failing in passing, for the record of the try that answers. */
  noteFailedTry(key: string, who: string, failed: FailedTry): Promise<void>;
  /** Counts an attempt and reads the progress, in one round trip (the attempt counted in `attempts`). */
  beginAttempt(key: string, who: string): Promise<ReplyProgress>;
  /** Saves the text unless an attempt saved one first; returns the progress after it (holding whichever text won). */
  saveText(key: string, who: string, text: string, meta: object): Promise<ReplyProgress>;
  markPending(key: string, who: string, piece: number, content: string): Promise<void>;
  recordPost(key: string, who: string, piece: number, posted: PostedPiece, post: Omit<PersonaPost, 'personaId'>): Promise<void>;
  /**
   * The reply is finished: only what a re-run needs to stop at once is kept (done, its follow-ups),
   * for a week; the text, the model call saved with it (earlier failed tries included) and the pending pieces go. `followUps` are
   * saved in the same step unless an attempt saved some first; returns the follow-ups kept.
   */
  markDone(key: string, who: string, followUps?: string): Promise<string | undefined>;
  activity(channelId: string, now: number): Promise<ChannelActivity>;
  notePost(channelId: string, personaId: string, at: number): Promise<void>;
  noteAmbient(channelId: string, count: number, at: number): Promise<void>;
  /**
   * Claims follow-ups to `triggerId` in the channel, atomically across workers: each persona's
   * cooldown, and a place among the channel's model-to-model replies of the last minute. Says for
   * each persona whether it was claimed, or why not (a claim by the same trigger, on a retry, is
   * still its own).
   */
  claimFollowUps(channelId: string, personaIds: readonly string[], triggerId: string, limits: { cooldownSeconds: number; perMinute: number }, now: number): Promise<FollowUpClaim[]>;
}

export type FollowUpClaim = 'claimed' | 'cooldown' | 'channel-rate';

// KEYS: the channel's replies of the last minute (a sorted set), then per persona its cooldown key,
// then per persona this trigger's claim on it (kept a day: a retry, however late, finds its claim).
// ARGV: the trigger, the cooldown in ms (0: none), the per-minute cap, now (ms). Returns per persona
// 1 (claimed), 0 (cooling down) or -1 (the channel's minute is full).
const CLAIM_FOLLOW_UPS = redisScript(`
local now = tonumber(ARGV[4])
local n = (#KEYS - 1) / 2
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
local count = redis.call('ZCARD', KEYS[1])
local out = {}
for i = 1, n do
  local cooldown, claim = KEYS[1 + i], KEYS[1 + n + i]
  local won = 0
  if redis.call('EXISTS', claim) == 1 then
    won = 1
  elseif count >= tonumber(ARGV[3]) then
    won = -1
  else
    local held = false
    if ARGV[2] ~= '0' then held = redis.call('GET', cooldown) end
    if not held or held == ARGV[1] then
      if ARGV[2] ~= '0' then redis.call('SET', cooldown, ARGV[1], 'PX', ARGV[2]) end
      redis.call('ZADD', KEYS[1], now, claim)
      redis.call('SET', claim, '1', 'EX', 86400)
      count = count + 1
      won = 1
    end
  end
  out[#out + 1] = won
end
redis.call('PEXPIRE', KEYS[1], 120000)
return out`);

const parsePost = (raw: string): PersonaPost => {
  const [personaId, depth, kind] = raw.split(' ');
  return { personaId: personaId!, depth: Number(depth ?? 1), notice: kind === 'notice' };
};

function progressOf(fields: Record<string, string>): ReplyProgress {
  const posted = new Map<number, PostedPiece>();
  const pending = new Map<number, string>();
  const failedTries: FailedTry[] = [];
  for (const [field, value] of Object.entries(fields)) {
    const [kind, index] = field.split(':');
    if (kind === 'posted') {
      const [messageId, webhookId, final] = value.split(' ');
      posted.set(Number(index), { messageId: messageId!, webhookId: webhookId!, final: final === 'final' });
    }
    if (kind === 'pending') pending.set(Number(index), value);
    if (kind === 'failed') failedTries.push(JSON.parse(value) as FailedTry);
  }
  failedTries.sort((a, b) => a.try - b.try);
  for (const i of posted.keys()) pending.delete(i);
  return {
    ...(fields.text === undefined ? {} : { text: fields.text }),
    ...(fields.meta === undefined ? {} : { meta: fields.meta }),
    ...(fields.followUps === undefined ? {} : { followUps: fields.followUps }),
    posted,
    pending,
    done: fields.done === '1',
    attempts: Number(fields.attempts ?? 0),
    failedTries,
  };
}

/**
 * How long a finished reply's entry stays: longer than any way its job could run again (a completed
 * job is kept a day, a failed one a week; a replayed gateway event is minutes old).
 */
const DONE_MEMORY_SECONDS = 7 * 24 * 3600;

export function createLedger(redis: Redis, prefix: string, memoryDays: number): Ledger {
  const ttl = memoryDays * 24 * 3600;
  const postKey = (id: string) => `${prefix}:post:${id}`;
  const replyKey = (key: string, who: string) => `${prefix}:reply:${key}:${who}`;
  const lastPostKey = (channel: string) => `${prefix}:last-post:${channel}`;
  const ambientKey = (channel: string) => `${prefix}:ambient:${channel}`;

  return {
    async postOf(messageId) {
      const raw = await redis.get(postKey(messageId));
      return raw === null ? undefined : parsePost(raw);
    },
    async postsOf(messageIds) {
      const found = new Map<string, PersonaPost>();
      if (messageIds.length === 0) return found;
      const values = await redis.mget(messageIds.map(postKey));
      values.forEach((v, i) => v && found.set(messageIds[i]!, parsePost(v)));
      return found;
    },
    async progress(key, who) {
      return progressOf(await redis.hgetall(replyKey(key, who)));
    },
    async beginAttempt(key, who) {
      const k = replyKey(key, who);
      // Plain commands, not MULTI: one connection keeps their order, so the read sees the count, and
      // they join whatever else the turn asks for in the same tick (one write, one round trip).
      const [, , fields] = await Promise.all([redis.hincrby(k, 'attempts', 1), redis.expire(k, ttl), redis.hgetall(k)]);
      return progressOf(fields);
    },
    async startAttempt(key, who) {
      const k = replyKey(key, who);
      const [[, attempts]] = (await redis.multi().hincrby(k, 'attempts', 1).expire(k, ttl).exec()) as [[unknown, number]];
      return attempts;
    },
    async giveBackAttempt(key, who) {
      await redis.hincrby(replyKey(key, who), 'attempts', -1);
    },
    async noteFailedTry(key, who, failed) {
      const k = replyKey(key, who);
      // A field per try: a try run twice (a stalled job) writes its own field again, never a second entry.
      await Promise.all([redis.hset(k, `failed:${failed.try}`, JSON.stringify(failed)), redis.expire(k, ttl)]);
    },
    async saveText(key, who, text, meta) {
      const flat = (await SAVE_TEXT(redis, [replyKey(key, who)], [text, JSON.stringify(meta), ttl])) as string[];
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return progressOf(fields);
    },
    async markPending(key, who, piece, content) {
      // A later pending of the same piece (a retry's new preview) replaces the content to look for.
      // Every entry is kept for a while, not for good: a notice's or an interview post's has no
      // attempt to begin, which set it before.
      const k = replyKey(key, who);
      await Promise.all([redis.hset(k, `pending:${piece}`, content), redis.expire(k, ttl)]);
    },
    async recordPost(key, who, piece, posted, post) {
      const state = `${posted.messageId} ${posted.webhookId} ${posted.final ? 'final' : 'preview'}`;
      await RECORD_POST(redis, [postKey(posted.messageId), replyKey(key, who)], [`${who} ${post.depth}${post.notice ? ' notice' : ''}`, ttl, `posted:${piece}`, state]);
    },
    async markDone(key, who, followUps) {
      const kept = await MARK_DONE(redis, [replyKey(key, who)], [Math.min(ttl, DONE_MEMORY_SECONDS), followUps === undefined ? '0' : '1', followUps ?? '']);
      return typeof kept === 'string' ? kept : undefined;
    },
    async activity(channelId, now) {
      const [last, ambient] = await Promise.all([redis.hgetall(lastPostKey(channelId)), redis.zcount(ambientKey(channelId), now - 60_000, '+inf')]);
      return { lastPostAt: new Map(Object.entries(last).map(([k, v]) => [k, Number(v)])), ambientRepliesLastMinute: ambient };
    },
    async notePost(channelId, personaId, at) {
      await Promise.all([redis.hset(lastPostKey(channelId), personaId, String(at)), redis.expire(lastPostKey(channelId), 24 * 3600)]);
    },
    async claimFollowUps(channelId, personaIds, triggerId, limits, now) {
      if (personaIds.length === 0) return [];
      const keys = [ambientKey(channelId), ...personaIds.map((p) => `${prefix}:cooldown:${channelId}:${p}`), ...personaIds.map((p) => `${prefix}:claim:${triggerId}:${p}`)];
      const won = (await CLAIM_FOLLOW_UPS(redis, keys, [triggerId, Math.round(limits.cooldownSeconds * 1000), limits.perMinute, now])) as number[];
      return won.map((w) => (w === 1 ? 'claimed' : w === 0 ? 'cooldown' : 'channel-rate'));
    },
    async noteAmbient(channelId, count, at) {
      if (count <= 0) return;
      const key = ambientKey(channelId);
      const members = Array.from({ length: count }, (_, i) => [at, `${at}-${i}-${Math.random().toString(36).slice(2, 8)}`]).flat();
      await redis.multi().zadd(key, ...members).zremrangebyscore(key, '-inf', at - 60_000).expire(key, 120).exec();
    },
  };
}

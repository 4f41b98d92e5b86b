// One rate-limit authority for every chorus process, kept in Redis: Discord allows a bot 50 REST
// requests a second in all, and @discordjs/rest can only count its own process's. Each request
// holds a slot from the moment it is sent until one second after its answer. Discord receives it
// somewhere in that interval, so no second can hold more than `perSecond` arrivals, however many
// processes on however many machines send them, and whatever jitter does to timing. (A window on
// send times alone — what @discordjs/rest does, in fixed windows — let 60+ arrive in one second.)
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisScript } from './redis-script.ts';

/** What a request's answer says of its resource's budget (the headers Discord sends, or a 429). */
export interface RateLimitAnswer {
  status: number;
  headers: { get(name: string): string | null };
}

export interface GateSlot {
  /** Frees the slot once the answer (or failure) is in; a webhook's budget learns from the answer. */
  release(answer?: RateLimitAnswer): void;
  /** How long the resource's own budget held the request back (ms): a crowded webhook. */
  heldByBucketMs: number;
  /** With a budget: requests through it in the last minute, from every process, this one included. */
  lastMinute?: number;
  /** For a post into a channel: the channel's posts in the last minute, from every process, this one included. */
  channelMinute?: number;
}

/** A slot granted under one of several budgets: which one (its index among those offered). */
export interface ChosenSlot extends GateSlot {
  index: number;
}

/**
 * Not now: look again after `waitMs`; `byBucket` when every budget offered is what holds it,
 * `byChannel` when the channel's webhooks are held (Discord answered a shared 429 there),
 * `paused` when every request of its kind is held (a global 429, or a block: see pauseOf).
 */
export interface GateWait {
  waitMs: number;
  byBucket: boolean;
  byChannel: boolean;
  paused: boolean;
}

/**
 * What a 429 stops besides its own request: `global`, every request of its kind (Discord's global
 * limit: X-RateLimit-Global, or scope "global"); `blocked`, every request of both kinds (a 429 with
 * none of Discord's limit headers, which comes from Cloudflare in front of Discord, for the whole
 * address: it counts toward the invalid-request ban, and with no Retry-After @discordjs/rest would
 * send the request again at once); nothing more for a route's or a resource's own limit.
 */
export function pauseOf(answer: RateLimitAnswer | undefined): 'global' | 'blocked' | undefined {
  if (answer?.status !== 429) return undefined;
  const h = answer.headers;
  const scope = h.get('x-ratelimit-scope');
  if (scope === 'global' || h.get('x-ratelimit-global') !== null) return 'global';
  if (scope === null && h.get('x-ratelimit-bucket') === null && h.get('x-ratelimit-limit') === null) return 'blocked';
  return undefined;
}

/** A block with no Retry-After holds the gate this long, doubled for each block after it, up to BLOCK_MAX_MS. */
export const BLOCK_FIRST_MS = 1_000;
const BLOCK_MAX_MS = 60_000;

/** A 429 whose X-RateLimit-Scope is "shared": a limit on a resource shared beyond this request's own bucket (for a webhook post, its channel's). */
export function isSharedLimit(answer: RateLimitAnswer | undefined): answer is RateLimitAnswer {
  return answer?.status === 429 && answer.headers.get('x-ratelimit-scope') === 'shared';
}

export interface WebhookTarget {
  /**
   * The channel a webhook request goes into (a thread's parent: its webhooks are the parent's).
   * Discord also limits webhook posts per channel, whichever webhook sends them, with no header to
   * warn of it (about 30 a minute, undocumented). The gate counts each channel's posts over the
   * last minute. When Discord answers a request into the channel 429 with X-RateLimit-Scope
   * "shared", the gate holds all of the channel's webhook posts until the Retry-After has passed
   * (rather than let each webhook of the pool learn it from a 429 of its own), and learns the limit:
   * from then on (for an hour) no more posts go into the channel in any minute than had gone when the
   * 429 came. So a channel pays one 429 to learn its limit, not one per post past it.
   */
  channel?: string;
  /**
   * A post (an execution: counted, and kept within a learned limit) or an edit of one. What is
   * known of the limit is of executions, so a hold a post's 429 began lets edits through (a streamed
   * answer's final words are not kept back for a minute); should Discord count edits too, a 429 on
   * one holds the channel's edits as well as its posts, and lowers the limit its posts keep to.
   */
  kind?: 'post' | 'edit';
}

export interface RestGate {
  /**
   * Waits for a slot under the bot's global limit and, with `bucket`, under that resource's own
   * budget too (a webhook's 5 posts in 2 s, as Discord last described it), shared by every process.
   * Both are taken in one step, so a request never holds one while it waits for the other, and the
   * common case costs one round trip to Redis.
   */
  acquire(kind: 'bot' | 'webhook', bucket?: string, target?: WebhookTarget): Promise<GateSlot>;
  /**
   * One look, for a request that may go through any of several resources (a post, through any of a
   * channel's webhooks): the slot under the first of `buckets` with room, preferring those with
   * fewer than `minuteCrowded` requests in the last minute; or how long to wait. The caller chooses
   * its resource when the slot is granted, not before it waits, so a burst spreads over every
   * webhook with room — including one added while it waited.
   */
  tryAcquire(kind: 'bot' | 'webhook', buckets: string[], minuteCrowded?: number, target?: WebhookTarget): Promise<ChosenSlot | GateWait>;
  /**
   * One look, for a request nobody waits for (the typing indicator, a streamed answer's edits on the
   * way): a slot only while less than SPARE_SHARE[kind] of the global limit is taken (and, with `bucket`,
   * the resource has room); undefined otherwise. So such requests never wait, and never take the
   * room that posts, final edits and webhook creations need in a burst.
   */
  acquireSpare(kind: 'bot' | 'webhook', bucket?: string, target?: WebhookTarget): Promise<GateSlot | undefined>;
  /** Whether requests nobody waits for would find room now (see acquireSpare): one look, nothing taken. */
  hasSpare(kind: 'bot' | 'webhook'): Promise<boolean>;
}

/**
 * The share of each global limit that requests nobody waits for may use (see RestGate.acquireSpare).
 * Half of the bot's: it carries requests of every kind (webhook creations, history reads, notices),
 * whose bursts nothing foresees. Most of the webhooks': they carry only posts and edits, so a
 * streamed answer's edits are left out as soon as posts need more than a fifth of it.
 */
export const SPARE_SHARE = { bot: 0.5, webhook: 0.8 } as const;

/** Discord's global limit for a bot; webhook executions (no token) are limited per address alike. */
export const BOT_REQUESTS_PER_SECOND = 50;
/** A slot whose process died before releasing it frees itself after this long (a request's time limit). */
const LEASE_MS = 15_000;
/**
 * The same for a resource's budget, shorter: while a budget is being learned, one request at a time
 * may go, and a dead process's request must not hold a channel's posts up for long. (An answer later
 * than this is rare; the worst it costs is one request too many, which Discord answers 429.)
 */
const BUCKET_LEASE_MS = 3_000;
/** Longest pause between looks while every slot is held by a request still in flight. */
export const MAX_POLL_MS = 50;

// KEYS: the gate's sorted set (member → when its slot frees); the gate's pause (global 429s and
// blocks: every request of the kind waits it out); the channel's hold ('posts' or
// 'edits': which kind of request Discord refused, and so which the hold stops: posts always, edits
// only after an edit was refused), its last minute's posts and its learned limit (names unused
// without a channel); then, per resource budget offered, its state hash, in-flight set and last
// minute's requests. ARGV: limit, lease, member, budget lease, minute-crowded count, the channel's request ('post', 'edit' or '' without a channel), the
// channel's window (ms). Returns {0, 0, requests through the chosen budget in the last minute, its
// index (from 0), the channel's posts in its window} when the slots are taken, else {how long to
// wait before looking again (ms), 1 if the budgets are what hold it, 2 if the channel is, 3 if the
// gate is paused}. Redis's clock is the one clock every process shares. While a budget is unknown, one request at a time
// goes to learn it; once its window has passed, it is learned afresh from the next answer rather
// than assumed (the limit that binds may have changed). A budget with room but a crowded last
// minute is taken only when no other has room.
const ACQUIRE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local channel = ARGV[6] ~= ''
local post = ARGV[6] == 'post'
local window = tonumber(ARGV[7])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {paused, 3} end
if channel then
  local held = redis.call('PTTL', KEYS[3])
  if held > 0 and (post or redis.call('GET', KEYS[3]) == 'edits') then return {held, 2} end
end
if post then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
  local learned = tonumber(redis.call('GET', KEYS[5]))
  if learned ~= nil and redis.call('ZCARD', KEYS[4]) >= learned then
    local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    return {math.max(1, tonumber(first[2]) + window - now), 2}
  end
end
local budgets = (#KEYS - 5) / 3
local chosen, crowded, count, crowdedCount, wait = nil, nil, 0, 0, nil
for i = 0, budgets - 1 do
  local stateKey, inflightKey, minuteKey = KEYS[6 + 3 * i], KEYS[7 + 3 * i], KEYS[8 + 3 * i]
  redis.call('ZREMRANGEBYSCORE', inflightKey, '-inf', now)
  local inflight = redis.call('ZCARD', inflightKey)
  local state = redis.call('HMGET', stateKey, 'remaining', 'resetAt')
  local remaining = tonumber(state[1])
  local resetAt = tonumber(state[2])
  if remaining ~= nil and resetAt ~= nil and now >= resetAt then
    redis.call('HDEL', stateKey, 'remaining', 'resetAt')
    remaining = nil
    resetAt = nil
  end
  local free
  if remaining == nil then free = 1 - inflight else free = remaining - inflight end
  if free > 0 then
    redis.call('ZREMRANGEBYSCORE', minuteKey, '-inf', now - 60000)
    local calls = redis.call('ZCARD', minuteKey)
    if calls < tonumber(ARGV[5]) then
      chosen, count = i, calls
      break
    end
    if crowded == nil then crowded, crowdedCount = i, calls end
  else
    local w = 20
    if resetAt ~= nil then w = math.max(1, resetAt - now) end
    if wait == nil or w < wait then wait = w end
  end
end
if chosen == nil then chosen, count = crowded, crowdedCount end
if budgets > 0 and chosen == nil then return {wait, 1} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {math.max(1, tonumber(first[2]) - now), 0}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
local channelCount = 0
if post then
  redis.call('ZADD', KEYS[4], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[4], window + 1000)
  channelCount = redis.call('ZCARD', KEYS[4])
end
if chosen ~= nil then
  local inflightKey, minuteKey = KEYS[7 + 3 * chosen], KEYS[8 + 3 * chosen]
  redis.call('ZADD', inflightKey, now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', inflightKey, tonumber(ARGV[4]) + 1000)
  redis.call('ZADD', minuteKey, now, ARGV[3])
  redis.call('PEXPIRE', minuteKey, 61000)
  return {0, 0, count + 1, chosen, channelCount}
end
return {0, 0, 0, 0, channelCount}`);

// KEYS: the gate's sorted set, the budget's state hash and in-flight set (unused without a budget),
// the channel's hold, learned limit and last minute's posts (unused without a channel), the pauses
// of this kind's gate and of the other's, and the count of blocks in a row. ARGV: member, the
// budget's remaining ('' if unknown), its reset-after (ms), how long to hold the channel (ms; ''
// for no hold), 1 with a budget, 1 for a post, the channel's window (ms), the pause the answer asks
// (pauseOf: 'global', 'blocked' or ''), its Retry-After (ms; '' if none), BLOCK_FIRST_MS,
// BLOCK_MAX_MS, the answer's status ('' without one). A pause only lengthens one already running; a
// block with no Retry-After pauses for BLOCK_FIRST_MS doubled for each block since the last answer
// that was not a 429. The
// global slot stays held for one second after the answer, and a post stays in the channel's window
// from its answer on: Discord received it somewhere before. On a hold, the channel's limit is the
// posts Discord had taken (those in the window, less the refused one if it was a post; should
// Discord count edits too, fewer posts than that fit beside them); a lower limit learned later
// replaces a higher one. Requests sent from several processes reach Discord in an order no process
// knows, and their answers come back in yet another: within one window a budget only goes down, so
// the lowest remaining any answer reported is the truth (and the latest reset).
const RELEASE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + 1000, ARGV[1])
local function pause(key, ms)
  if ms >= 1 and redis.call('PTTL', key) < ms then redis.call('SET', key, ARGV[8], 'PX', ms) end
end
if ARGV[8] == 'global' then
  pause(KEYS[7], tonumber(ARGV[9]) or tonumber(ARGV[10]))
elseif ARGV[8] == 'blocked' then
  local n = redis.call('INCR', KEYS[9])
  redis.call('PEXPIRE', KEYS[9], 600000)
  local ms = tonumber(ARGV[9]) or math.min(tonumber(ARGV[11]), tonumber(ARGV[10]) * 2 ^ (n - 1))
  pause(KEYS[7], math.floor(ms))
  pause(KEYS[8], math.floor(ms))
elseif ARGV[12] ~= '429' then
  redis.call('DEL', KEYS[9])
end
if ARGV[6] == '1' then redis.call('ZADD', KEYS[6], 'XX', now, ARGV[1]) end
if ARGV[4] ~= '' and tonumber(ARGV[4]) >= 1 then
  redis.call('SET', KEYS[4], ARGV[6] == '1' and 'posts' or 'edits', 'PX', tonumber(ARGV[4]))
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[7]))
  local limit = math.max(1, redis.call('ZCARD', KEYS[6]) - 1)
  local learned = tonumber(redis.call('GET', KEYS[5]))
  if learned ~= nil and learned < limit then limit = learned end
  redis.call('SET', KEYS[5], limit, 'EX', 3600)
end
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  if ARGV[2] ~= '' then
    local remaining = tonumber(ARGV[2])
    local resetAt = now + tonumber(ARGV[3])
    local state = redis.call('HMGET', KEYS[2], 'remaining', 'resetAt')
    local known, knownReset = tonumber(state[1]), tonumber(state[2])
    if known ~= nil and knownReset ~= nil and now < knownReset then
      remaining = math.min(remaining, known)
      resetAt = math.max(resetAt, knownReset)
    end
    redis.call('HSET', KEYS[2], 'remaining', remaining, 'resetAt', resetAt)
    redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) + 60000)
  end
end
return 1`);

// KEYS: the gate's sorted set. Returns the slots taken now (by Redis's clock, as ACQUIRE counts them).
const TAKEN = redisScript(`
local t = redis.call('TIME')
return redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), '+inf')`);

export interface GateOptions {
  perSecond?: number;
  /** The window over which a channel's webhook requests are counted (ms): Discord's minute; shorter in tests. */
  channelWindowMs?: number;
}

export function createRestGate(redis: Redis, prefix: string, o: GateOptions = {}): RestGate {
  const perSecond = o.perSecond ?? BOT_REQUESTS_PER_SECOND;
  const channelWindowMs = o.channelWindowMs ?? 60_000;
  const gates = { bot: `${prefix}:rest-gate:bot`, webhook: `${prefix}:rest-gate:webhook` };
  const spareLimit = (kind: 'bot' | 'webhook') => Math.max(1, Math.floor(perSecond * SPARE_SHARE[kind]));
  const stateKey = (bucket: string) => `${prefix}:rest-bucket:${bucket}`;
  const channelKey = (channel: string | undefined) => `${prefix}:rest-channel:${channel ?? '-'}`;
  const tag = randomBytes(4).toString('hex');
  let counter = 0;

  async function tryAcquire(kind: 'bot' | 'webhook', buckets: string[], minuteCrowded = Infinity, target: WebhookTarget = {}, limit = perSecond): Promise<ChosenSlot | GateWait> {
    const member = `${tag}-${++counter}`;
    const channel = channelKey(target.channel);
    const post = target.channel !== undefined && target.kind !== 'edit';
    const keys = [gates[kind], `${gates[kind]}:pause`, `${channel}:hold`, `${channel}:last-minute`, `${channel}:limit`, ...buckets.flatMap((b) => [stateKey(b), `${stateKey(b)}:in-flight`, `${stateKey(b)}:last-minute`])];
    const crowded = Number.isFinite(minuteCrowded) ? minuteCrowded : 1e9;
    const [wait, heldBy, lastMinute, index, channelMinute] = (await ACQUIRE(redis, keys, [limit, LEASE_MS, member, BUCKET_LEASE_MS, crowded, target.channel ? (target.kind ?? 'post') : '', channelWindowMs])) as [number, number, number, number, number];
    if (wait !== 0) return { waitMs: wait, byBucket: heldBy === 1 || heldBy === 2, byChannel: heldBy === 2, paused: heldBy === 3 };
    const bucket = buckets[index];
    // The answer's keys, in the order RELEASE reads them (names it does not use stand in when absent).
    const other = kind === 'bot' ? 'webhook' : 'bot';
    const answerKeys = [gates[kind], stateKey(bucket ?? '-'), `${stateKey(bucket ?? '-')}:in-flight`, `${channel}:hold`, `${channel}:limit`, `${channel}:last-minute`, `${gates[kind]}:pause`, `${gates[other]}:pause`, `${prefix}:rest-gate:blocks`];
    return {
      index,
      heldByBucketMs: 0,
      ...(bucket ? { lastMinute } : {}),
      ...(post ? { channelMinute } : {}),
      release(answer) {
        const h = answer?.headers;
        const retryAfter = answer?.status === 429 ? Number(h?.get('retry-after') ?? 1) * 1000 : undefined;
        const told = h?.get('retry-after');
        // A limit on the channel's webhooks together: none of them may post until it has passed.
        // It is the channel's, not this webhook's: the webhook's own budget is as its headers say
        // (its edits, which the hold lets through, must not wait out the channel's minute).
        const channelLimit = target.channel !== undefined && isSharedLimit(answer);
        const holdChannel = channelLimit && retryAfter !== undefined ? Math.ceil(retryAfter) : '';
        const ownLimit = retryAfter !== undefined && !channelLimit;
        const remaining = ownLimit ? '0' : (h?.get('x-ratelimit-remaining') ?? '');
        const resetAfter = ownLimit ? retryAfter : Number(h?.get('x-ratelimit-reset-after') ?? 0) * 1000;
        const paused = pauseOf(answer) ?? '';
        const pauseMs = told != null && Number.isFinite(Number(told)) ? Math.ceil(Number(told) * 1000) : '';
        void RELEASE(redis, answerKeys, [member, remaining, Math.ceil(resetAfter), holdChannel, bucket ? 1 : 0, post ? 1 : 0, channelWindowMs, paused, pauseMs, BLOCK_FIRST_MS, BLOCK_MAX_MS, answer?.status ?? '']).catch(() => undefined);
      },
    };
  }

  return {
    tryAcquire,
    async acquireSpare(kind, bucket, target) {
      const got = await tryAcquire(kind, bucket ? [bucket] : [], Infinity, target, spareLimit(kind));
      return 'release' in got ? got : undefined;
    },
    async hasSpare(kind) {
      return Number(await TAKEN(redis, [gates[kind]], [])) < spareLimit(kind);
    },
    async acquire(kind, bucket, target) {
      let heldByBucketMs = 0;
      for (;;) {
        const got = await tryAcquire(kind, bucket ? [bucket] : [], Infinity, target);
        if ('release' in got) return { ...got, heldByBucketMs };
        // A budget's reset and a pause are told exactly; the global limit frees a slot with every answer, so look often.
        const pause = got.byBucket || got.paused ? Math.min(got.waitMs, 1000) : Math.min(got.waitMs, MAX_POLL_MS);
        const began = Date.now();
        await new Promise((r) => setTimeout(r, pause));
        if (got.byBucket) heldByBucketMs += Date.now() - began;
      }
    },
  };
}

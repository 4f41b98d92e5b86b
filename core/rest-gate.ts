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
}

export interface RestGate {
  /**
   * Waits for a slot under the bot's global limit and, with `bucket`, under that resource's own
   * budget too (a webhook's 5 posts in 2 s, as Discord last described it), shared by every process.
   * Both are taken in one step, so a request never holds one while it waits for the other, and the
   * common case costs one round trip to Redis.
   */
  acquire(kind: 'bot' | 'webhook', bucket?: string): Promise<GateSlot>;
}

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
const MAX_POLL_MS = 50;

// KEYS: the gate's sorted set (member → when its slot frees); with a resource budget, its state
// hash, in-flight set and last minute's requests. ARGV: limit, lease, member, budget lease. Returns
// {0, 0, requests through the budget in the last minute} when the slots are taken, else {how long to
// wait before looking again (ms), 1 if the budget is what holds it}. Redis's
// clock is the one clock every process shares. While a budget is unknown, one request at a time goes
// to learn it; once its window has passed, it is learned afresh from the next answer rather than
// assumed (the limit that binds may have changed).
const ACQUIRE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if #KEYS > 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local inflight = redis.call('ZCARD', KEYS[3])
  local state = redis.call('HMGET', KEYS[2], 'remaining', 'resetAt')
  local remaining = tonumber(state[1])
  local resetAt = tonumber(state[2])
  if remaining ~= nil and resetAt ~= nil and now >= resetAt then
    redis.call('HDEL', KEYS[2], 'remaining', 'resetAt')
    remaining = nil
    resetAt = nil
  end
  local free
  if remaining == nil then free = 1 - inflight else free = remaining - inflight end
  if free <= 0 then
    if resetAt ~= nil then return {math.max(1, resetAt - now), 1} end
    return {20, 1}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {math.max(1, tonumber(first[2]) - now), 0}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
if #KEYS > 1 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]) + 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
  redis.call('ZADD', KEYS[4], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[4], 61000)
  return {0, 0, redis.call('ZCARD', KEYS[4])}
end
return {0, 0, 0}`);

// KEYS: as above. ARGV: member, the budget's remaining ('' if unknown), its reset-after (ms). The
// global slot stays held for one second after the answer. Requests sent from several processes
// reach Discord in an order no process knows, and their answers come back in yet another: within
// one window a budget only goes down, so the lowest remaining any answer reported is the truth
// (and the latest reset).
const RELEASE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + 1000, ARGV[1])
if #KEYS > 1 then
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

export function createRestGate(redis: Redis, prefix: string, perSecond = BOT_REQUESTS_PER_SECOND): RestGate {
  const gates = { bot: `${prefix}:rest-gate:bot`, webhook: `${prefix}:rest-gate:webhook` };
  const tag = randomBytes(4).toString('hex');
  let counter = 0;
  return {
    async acquire(kind, bucket) {
      const member = `${tag}-${++counter}`;
      const state = bucket && `${prefix}:rest-bucket:${bucket}`;
      const keys = state ? [gates[kind], state, `${state}:in-flight`, `${state}:last-minute`] : [gates[kind]];
      let heldByBucketMs = 0;
      let lastMinute = 0;
      for (;;) {
        const [wait, byBucket, count] = (await ACQUIRE(redis, keys, [perSecond, LEASE_MS, member, BUCKET_LEASE_MS])) as [number, number, number?];
        if (wait === 0) {
          lastMinute = count ?? 0;
          break;
        }
        // A budget's reset is told exactly; the global limit frees a slot with every answer, so look often.
        const pause = byBucket ? Math.min(wait, 1000) : Math.min(wait, MAX_POLL_MS);
        const began = Date.now();
        await new Promise((r) => setTimeout(r, pause));
        if (byBucket) heldByBucketMs += Date.now() - began;
      }
      return {
        heldByBucketMs,
        ...(state ? { lastMinute } : {}),
        release(answer) {
          const h = answer?.headers;
          const retryAfter = answer?.status === 429 ? Number(h?.get('retry-after') ?? 1) * 1000 : undefined;
          const remaining = retryAfter !== undefined ? '0' : (h?.get('x-ratelimit-remaining') ?? '');
          const resetAfter = retryAfter ?? Number(h?.get('x-ratelimit-reset-after') ?? 0) * 1000;
          void RELEASE(redis, keys, [member, remaining, Math.ceil(resetAfter)]).catch(() => undefined);
        },
      };
    },
  };
}

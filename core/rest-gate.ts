// One rate-limit authority for every chorus process, kept in Redis: Discord allows a bot 50 REST
// requests a second in all, and @discordjs/rest can only count its own process's. Each request
// holds a slot from the moment it is sent until one second after its answer. Discord receives it
// somewhere in that interval, so no second can hold more than `perSecond` arrivals, however many
// processes on however many machines send them, and whatever jitter does to timing. (A window on
// send times alone — what @discordjs/rest does, in fixed windows — let 60+ arrive in one second.)
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { redisScript } from './redis-script.ts';

export interface RestGate {
  /** Waits for a slot; returns a release to call once the answer (or failure) is in. */
  acquire(kind: 'bot' | 'webhook'): Promise<() => void>;
  /**
   * Waits until Discord's last word on a resource's own budget (a webhook's 5 posts in 2 s) allows
   * one more request from any process; the release takes the answer's rate-limit headers.
   */
  acquireBucket(key: string): Promise<(answer?: { status: number; headers: { get(name: string): string | null } }) => void>;
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

// KEYS: the gate's sorted set (member → when its slot frees). ARGV: limit, lease, member.
// Returns 0 when the slot is taken, else how long to wait before looking again (ms). Redis's clock
// is the one clock every process shares.
const ACQUIRE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)`);

// KEYS: the gate. ARGV: member. The slot stays held for one second after the answer.
const RELEASE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + 1000, ARGV[1])
return 1`);

// A resource's budget, as Discord's headers last described it. KEYS: state hash, in-flight set.
// ARGV: member, lease. While the budget is unknown, one request at a time goes to learn it.
const BUCKET_ACQUIRE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
local state = redis.call('HMGET', KEYS[1], 'remaining', 'resetAt')
local remaining = tonumber(state[1])
local resetAt = tonumber(state[2])
if remaining ~= nil and resetAt ~= nil and now >= resetAt then
  -- The budget was reset: learn it again from the next answer (one request) rather than assume
  -- a limit that may no longer be the binding one.
  redis.call('HDEL', KEYS[1], 'remaining', 'resetAt')
  remaining = nil
  resetAt = nil
end
local free
if remaining == nil then free = 1 - inflight else free = remaining - inflight end
if free > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 1000)
  return {0, 0}
end
if resetAt ~= nil then return {math.max(1, resetAt - now), 0} end
return {20, 0}`);

// KEYS: state hash, in-flight set. ARGV: member, remaining ('' if unknown), reset-after ms.
// Requests sent from several processes reach Discord in an order no process knows, and their answers
// come back in yet another: within one window a budget only goes down, so the lowest remaining any
// answer reported is the truth (and the latest reset). A new window is learned afresh (see above).
const BUCKET_RELEASE = redisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  local remaining = tonumber(ARGV[2])
  local resetAt = now + tonumber(ARGV[3])
  local state = redis.call('HMGET', KEYS[1], 'remaining', 'resetAt')
  local known, knownReset = tonumber(state[1]), tonumber(state[2])
  if known ~= nil and knownReset ~= nil and now < knownReset then
    remaining = math.min(remaining, known)
    resetAt = math.max(resetAt, knownReset)
  end
  redis.call('HSET', KEYS[1], 'remaining', remaining, 'resetAt', resetAt)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 60000)
end
return 1`);

export function createRestGate(redis: Redis, prefix: string, perSecond = BOT_REQUESTS_PER_SECOND): RestGate {
  const keys = { bot: `${prefix}:rest-gate:bot`, webhook: `${prefix}:rest-gate:webhook` };
  const tag = randomBytes(4).toString('hex');
  let counter = 0;
  return {
    async acquire(kind) {
      const member = `${tag}-${++counter}`;
      for (;;) {
        const wait = Number(await ACQUIRE(redis, [keys[kind]], [perSecond, LEASE_MS, member]));
        if (wait === 0) break;
        await new Promise((r) => setTimeout(r, Math.min(wait, MAX_POLL_MS)));
      }
      return () => void RELEASE(redis, [keys[kind]], [member]).catch(() => undefined);
    },
    async acquireBucket(key) {
      const state = `${prefix}:rest-bucket:${key}`;
      const inflight = `${state}:in-flight`;
      const member = `${tag}-${++counter}`;
      for (;;) {
        const [wait] = (await BUCKET_ACQUIRE(redis, [state, inflight], [member, BUCKET_LEASE_MS])) as [number, number];
        if (wait === 0) break;
        await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
      }
      return (answer) => {
        const h = answer?.headers;
        const retryAfter = answer?.status === 429 ? Number(h?.get('retry-after') ?? 1) * 1000 : undefined;
        const remaining = retryAfter !== undefined ? '0' : (h?.get('x-ratelimit-remaining') ?? '');
        const resetAfter = retryAfter ?? Number(h?.get('x-ratelimit-reset-after') ?? 0) * 1000;
        void BUCKET_RELEASE(redis, [state, inflight], [member, remaining, Math.ceil(resetAfter)]).catch(() => undefined);
      };
    },
  };
}

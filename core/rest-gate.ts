// One rate-limit authority for every chorus process, kept in Redis: Discord allows a bot 50 REST
// requests a second in all, and @discordjs/rest can only count its own process's. Each request
// holds a slot from the moment it is sent until one second after its answer. Discord receives it
// somewhere in that interval, so no second can hold more than `perSecond` arrivals, however many
// processes on however many machines send them, and whatever jitter does to timing. (A window on
// send times alone — what @discordjs/rest does, in fixed windows — let 60+ arrive in one second.)
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface RestGate {
  /** Waits for a slot; returns a release to call once the answer (or failure) is in. */
  acquire(kind: 'bot' | 'webhook'): Promise<() => void>;
}

/** Discord's global limit for a bot; webhook executions (no token) are limited per address alike. */
export const BOT_REQUESTS_PER_SECOND = 50;
/** A slot whose process died before releasing it frees itself after this long. */
const LEASE_MS = 30_000;
/** Longest pause between looks while every slot is held by a request still in flight. */
const MAX_POLL_MS = 50;

// KEYS: the gate's sorted set (member → when its slot frees). ARGV: limit, lease, member.
// Returns 0 when the slot is taken, else how long to wait before looking again (ms). Redis's clock
// is the one clock every process shares.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)`;

// KEYS: the gate. ARGV: member. The slot stays held for one second after the answer.
const RELEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + 1000, ARGV[1])
return 1`;

export function createRestGate(redis: Redis, prefix: string, perSecond = BOT_REQUESTS_PER_SECOND): RestGate {
  const keys = { bot: `${prefix}:rest-gate:bot`, webhook: `${prefix}:rest-gate:webhook` };
  const tag = randomBytes(4).toString('hex');
  let counter = 0;
  return {
    async acquire(kind) {
      const member = `${tag}-${++counter}`;
      for (;;) {
        const wait = Number(await redis.eval(ACQUIRE, 1, keys[kind], String(perSecond), String(LEASE_MS), member));
        if (wait === 0) break;
        await new Promise((r) => setTimeout(r, Math.min(wait, MAX_POLL_MS)));
      }
      return () => void redis.eval(RELEASE, 1, keys[kind], member).catch(() => undefined);
    },
  };
}

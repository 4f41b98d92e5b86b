// Rate-limit bookkeeping for the stand-in's REST API: headers always, 429s only when enforced.
import { createHash } from 'node:crypto';

export interface Limit {
  limit: number;
  windowMs: number;
}

export interface RateDecision {
  headers: Record<string, string>;
  /** Set when the request must be answered with 429. */
  limited?: { retryAfter: number; global: boolean };
}

const GENEROUS: Limit = { limit: 10_000, windowMs: 1_000 };
const GLOBAL: Limit = { limit: 50, windowMs: 1_000 };

export function createRateLimiter(enforce: boolean) {
  const windows = new Map<string, { start: number; count: number }>();

  function hit(key: string, lim: Limit, now: number): { remaining: number; resetAt: number; over: boolean } {
    let w = windows.get(key);
    if (!w || now >= w.start + lim.windowMs) {
      w = { start: now, count: 0 };
      windows.set(key, w);
    }
    const over = w.count >= lim.limit;
    if (!over) w.count += 1;
    return { remaining: Math.max(0, lim.limit - w.count), resetAt: w.start + lim.windowMs, over };
  }

  /**
   * bucket: route template (what Discord hashes); major: the major parameter value;
   * limit: the real Discord limit for the route; global: counts against the bot's 50/s.
   */
  return function check(bucket: string, major: string, limit: Limit, global: boolean): RateDecision {
    const now = Date.now();
    const lim = enforce ? limit : GENEROUS;
    if (enforce && global) {
      const g = hit('global', GLOBAL, now);
      if (g.over) {
        const retryAfter = (g.resetAt - now) / 1000;
        return {
          headers: { 'Retry-After': String(Math.ceil(retryAfter)), 'X-RateLimit-Global': 'true', 'X-RateLimit-Scope': 'global' },
          limited: { retryAfter, global: true },
        };
      }
    }
    const hash = createHash('sha1').update(bucket).digest('hex').slice(0, 16);
    const r = hit(`${bucket}:${major}`, lim, now);
    const resetAfter = (r.resetAt - now) / 1000;
    const headers: Record<string, string> = {
      'X-RateLimit-Limit': String(lim.limit),
      'X-RateLimit-Remaining': String(r.remaining),
      'X-RateLimit-Reset': (r.resetAt / 1000).toFixed(3),
      'X-RateLimit-Reset-After': resetAfter.toFixed(3),
      'X-RateLimit-Bucket': hash,
    };
    if (!r.over) return { headers };
    return {
      headers: { ...headers, 'Retry-After': String(Math.ceil(resetAfter)), 'X-RateLimit-Scope': 'user' },
      limited: { retryAfter: resetAfter, global: false },
    };
  };
}

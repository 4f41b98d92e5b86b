// Rate-limit bookkeeping for the stand-in's REST API: headers always, 429s only when enforced.
//
// Each budget is a sliding log: a request is accepted when fewer than `limit` requests were
// accepted in the last `windowMs`. So a client that never sees a 429 never exceeds a limit in
// any sliding window. Headers describe the binding budget exactly: Remaining is what may be sent
// right now, Reset-After is when the budget is whole again.
import { createHash } from 'node:crypto';

export interface Limit {
  limit: number;
  windowMs: number;
  /** X-RateLimit-Scope of a 429 from this budget: per-route ('user', default) or per-resource ('shared'). */
  scope?: 'user' | 'shared';
}

export interface RateDecision {
  headers: Record<string, string>;
  /** Set when the request must be answered with 429. */
  limited?: { retryAfter: number; global: boolean };
}

const GENEROUS: Limit = { limit: 10_000, windowMs: 1_000 };
export const GLOBAL: Limit = { limit: 50, windowMs: 1_000 };

/**
 * Webhook posts into one channel, through any of its webhooks: 30 a minute. Discord does not
 * document it; its staff described the 30/60 as "a limit to the channel itself" (discord-api-docs
 * #367) and clients meet it as a hidden per-channel limit: no header shows it, only a 429 with
 * X-RateLimit-Scope: shared (#1454). Counted on executions; whether edits count is not known.
 */
export const WEBHOOK_CHANNEL: Limit = { limit: 30, windowMs: 60_000, scope: 'shared' };

export function createRateLimiter(enforce: boolean, webhookChannel: Limit = WEBHOOK_CHANNEL) {
  const logs = new Map<string, number[]>();

  function log(key: string, windowMs: number, now: number): number[] {
    let l = logs.get(key);
    if (!l) logs.set(key, (l = []));
    let drop = 0;
    while (drop < l.length && (l[drop] ?? 0) <= now - windowMs) drop++;
    if (drop) l.splice(0, drop);
    return l;
  }

  /** Seconds until a request would be accepted by a full log. */
  const retryAfterOf = (l: number[], lim: Limit, now: number) => ((l[l.length - lim.limit] ?? now) + lim.windowMs - now) / 1000;

  /** The bot's 50 requests per second; only requests carrying a valid bot token are counted. */
  function global(now: number): RateDecision | undefined {
    if (!enforce) return undefined;
    const l = log('global', GLOBAL.windowMs, now);
    if (l.length >= GLOBAL.limit) {
      const retryAfter = retryAfterOf(l, GLOBAL, now);
      return {
        headers: { 'Retry-After': String(Math.ceil(retryAfter)), 'X-RateLimit-Global': 'true', 'X-RateLimit-Scope': 'global' },
        limited: { retryAfter, global: true },
      };
    }
    l.push(now);
    return undefined;
  }

  /**
   * bucket: what Discord hashes (route or shared bucket name); major: the major parameter's value;
   * channel: a webhook post's channel, whose hidden webhook budget it also spends (no header shows
   * that one: Discord's headers describe the webhook's own bucket).
   */
  function route(bucket: string, major: string, limits: Limit[], now: number, channel?: string): RateDecision {
    const budgets = (enforce ? limits : [GENEROUS]).map((lim, i) => ({ lim, l: log(`${bucket}:${major}:${i}`, lim.windowMs, now) }));
    const hidden = enforce && channel !== undefined ? { lim: webhookChannel, l: log(`webhook-channel:${channel}`, webhookChannel.windowMs, now) } : undefined;
    const all = hidden ? [...budgets, hidden] : budgets;
    const over = all.find((b) => b.l.length >= b.lim.limit);
    if (!over) for (const b of all) b.l.push(now);
    // Report the budget that binds: fewest remaining, then the latest reset.
    const view = budgets.map((b) => ({
      ...b,
      remaining: Math.max(0, b.lim.limit - b.l.length),
      resetAt: (b.l[b.l.length - 1] ?? now) + b.lim.windowMs,
    }));
    const shown = over && over !== hidden ? (view.find((v) => v.lim === over.lim) ?? view[0]) : view.reduce((a, b) => (b.remaining < a.remaining || (b.remaining === a.remaining && b.resetAt > a.resetAt) ? b : a));
    if (!shown) return { headers: {} };
    const headers: Record<string, string> = {
      'X-RateLimit-Limit': String(shown.lim.limit),
      'X-RateLimit-Remaining': String(shown.remaining),
      'X-RateLimit-Reset': (shown.resetAt / 1000).toFixed(3),
      'X-RateLimit-Reset-After': ((shown.resetAt - now) / 1000).toFixed(3),
      'X-RateLimit-Bucket': createHash('sha1').update(bucket).digest('hex').slice(0, 16),
    };
    if (!over) return { headers };
    const retryAfter = retryAfterOf(over.l, over.lim, now);
    return {
      headers: { ...headers, 'Retry-After': String(Math.ceil(retryAfter)), 'X-RateLimit-Scope': over.lim.scope ?? 'user' },
      limited: { retryAfter, global: false },
    };
  }

  return { global, route };
}

/** The most calls whose `at` fall within any sliding window of `windowMs` (default 1000 ms). */
export function maxPerSecond<T extends { at: number }>(calls: readonly T[], filter?: (c: T) => boolean, windowMs = 1_000): number {
  const times = calls.filter((c) => !filter || filter(c)).map((c) => c.at).sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while ((times[hi] ?? 0) - (times[lo] ?? 0) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** How many calls were answered 429. */
export function count429<T extends { status: number }>(calls: readonly T[], filter?: (c: T) => boolean): number {
  return calls.filter((c) => c.status === 429 && (!filter || filter(c))).length;
}

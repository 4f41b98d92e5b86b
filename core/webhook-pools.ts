// Each channel's small pool of webhooks chorus posts through, shared by every process: which webhook a
// post goes through, when the pool grows, and what to forget when a webhook turns out gone. Knows how
// crowded each webhook is from Discord's answers and the shared REST gate; speaks to Discord only to
// find or create webhooks (core/discord.ts does the posting).
import { boundedMap } from './bounded-map.ts';
import { DiscordAPIError, REST, RESTEvents, type APIRequest, type ResponseLike } from './discord-rest.ts';
import { Routes, type APIWebhook } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import type { BotIdentity } from './application.ts';
import type { ChangeFeed } from './changes.ts';
import { webhookPoolKey } from './channels.ts';
import { redisScript } from './redis-script.ts';
import { ChannelFullError, idempotent, MissingPermissionError } from './rest.ts';

export const WEBHOOK_NAME = 'chorus';

/**
 * How long a channel found full of webhooks is not asked again (one may have been deleted since);
 * and how long a pool chorus was refused growing (Manage Webhooks taken away) is not grown again.
 */
export const FULL_RECHECK_MS = 10 * 60_000;

export interface StoredWebhook {
  id: string;
  token: string;
}

export interface WebhookPools {
  /**
   * A channel's webhooks, least busy first (a persona's own slot first among equals), creating the
   * first if there is none. For a post that chooses among them when the shared gate grants it a
   * slot; `begin` counts it under way on the one it got.
   */
  choices(channelId: string, personaId: string): Promise<StoredWebhook[]>;
  begin(webhookId: string): void;
  /** Posts are waiting because every webhook of the pool is spent or crowded: add one (in the background) while there is room. */
  outgrown(channelId: string, poolLength: number): void;
  /**
   * The webhook a persona posts through in a channel, chosen now (without the shared gate, which
   * knows every process's posts: see `choices`), growing the pool when it is crowded. The post
   * counts as under way on it until `done`.
   */
  take(channelId: string, personaId: string): Promise<StoredWebhook>;
  /** The channel has a webhook to post through, creating its first if there is none. */
  ready(channelId: string): Promise<void>;
  done(webhookId: string): void;
  /** The pool's webhook that posted a message (another process may have added it since this one read the pool). */
  byId(channelId: string, webhookId: string): Promise<StoredWebhook | undefined>;
  /** The ids of the channel's pool as Redis holds it now: every process's webhooks. */
  ids(channelId: string): Promise<Set<string>>;
  /** Someone deleted or reset a webhook: the pool is forgotten (if it still holds it), everywhere. */
  forget(channelId: string, webhookId: string): Promise<void>;
  /** How long a streaming edit should wait so the webhook's and the channel's budgets keep room to spare (0: now). */
  editDelay(channelId: string, webhookId: string): number;
  /**
   * Whether a streamed answer's extra requests (its edits) may be spent in the channel: false once
   * its webhooks posted, in the last minute, a third of what Discord lets a channel take from
   * webhooks in a minute. The answer is then posted whole, in one request.
   */
  roomToStream(channelId: string): boolean;
  /** A post had to wait this long for the webhook's own budget. */
  noteWait(webhookId: string, waitedMs: number): void;
  /** Requests through a webhook in the last minute, from every process. */
  noteCalls(webhookId: string, lastMinute: number): void;
  /** Webhook posts into a channel in the last minute, from every process. */
  noteChannelCalls(channelId: string, lastMinute: number): void;
}

export interface PoolOptions {
  rest: REST;
  redis: Redis;
  prefix: string;
  /** Who the bot is: webhooks it created carry its application id. */
  identity: BotIdentity;
  poolSize: number;
  /** Pools are kept in memory, dropped when any process changes one; without a feed, read per post. */
  feed?: ChangeFeed;
  /** Called when growing a pool in the background fails. */
  onBackgroundError?: (err: unknown) => void;
}

/** Posts waiting on one webhook (its burst of 5 in 2 s, nearly) that make it crowded. */
const CROWDED = 4;

/** Requests kept back from streaming edits for the final edit and the next post. */
const EDIT_RESERVE = 2;

/**
 * Webhook posts Discord takes into one channel in a minute, whichever webhooks send them. It does not
 * document this limit, and no header shows it; its staff described it as a limit on the channel
 * (discord-api-docs #367) and clients meet it as a 429 with X-RateLimit-Scope "shared" (#1454).
 * Whether edits count too is not known (the shared gate learns it, if they do: see WebhookTarget).
 */
const CHANNEL_MINUTE = 30;

/**
 * A channel streams its answers while its webhooks posted fewer than this in the last minute: a
 * streamed answer costs one to three edits beside its post, which may count against the channel's
 * minute too, and once that is spent every webhook post there waits for it. Past this, answers are
 * posted whole.
 */
const CHANNEL_MINUTE_TO_STREAM = CHANNEL_MINUTE / 3;

/** Past this many webhook posts in the channel's last minute, streaming edits give way to posts. */
const CHANNEL_MINUTE_CROWDED = (CHANNEL_MINUTE * 2) / 3;

/** How long a streaming edit waits (or, as is likely, gives way to the final text) on a webhook with a crowded minute. */
const MINUTE_HOLD_MS = 5_000;

/**
 * Should Discord count its 30 a minute per webhook rather than per channel (it documents neither), a
 * webhook past this many in the last minute counts as crowded, so posts go to the pool's others, or
 * the pool grows, before it is spent: its own edits (which must go through it) would otherwise wait
 * out the minute. Where Discord counts per channel, the channel's own count (above) is what binds.
 */
export const MINUTE_CROWDED = 20;

/** Webhooks whose last minute a process remembers. */
const REMEMBERED_WEBHOOKS = 10_000;

/**
 * A channel's pool is forgotten a month after it was last read (a channel deleted while the gateway
 * was away, a server that removed chorus): used again, its webhooks are adopted back from Discord.
 */
const POOL_MEMORY_SECONDS = 30 * 24 * 3600;

/** Every process drops its copies of the pools when one changes (see readPool). */
const POOLS_TOPIC = 'webhook-pools';
/** And reads a channel's pool again after this long, whatever it heard. */
const POOL_COPY_MS = 10_000;

// Forgets a channel's pool only if it still holds the webhook found gone: another process may have
// rebuilt it already, from a stale copy of its own. KEYS: the pool. ARGV: the webhook's id.
const FORGET_POOL = redisScript(`
local pool = redis.call('GET', KEYS[1])
if pool and string.find(pool, '"id":"' .. ARGV[1] .. '"', 1, true) then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

export function createWebhookPools(o: PoolOptions): WebhookPools {
  const { rest, redis, prefix, poolSize } = o;
  const poolKey = (channelId: string) => webhookPoolKey(prefix, channelId);
  const ourWebhooksKey = `${prefix}:our-webhooks`;
  const fullKey = (channelId: string) => `${prefix}:webhooks-full:${channelId}`;
  const refusedKey = (channelId: string) => `${prefix}:webhooks-refused:${channelId}`;
  /** Each webhook's budget as its last answer told it (a webhook unused since, forgotten first). */
  const budgets = boundedMap<{ remaining: number; resetAt: number }>(REMEMBERED_WEBHOOKS);
  /** Each webhook's requests in the last minute, as the shared gate last counted them. */
  const minuteCalls = boundedMap<{ count: number; at: number }>(REMEMBERED_WEBHOOKS);
  /** Each channel's webhook posts in the last minute, likewise. */
  const channelCalls = boundedMap<{ count: number; at: number }>(REMEMBERED_WEBHOOKS);
  const growing = new Map<string, Promise<StoredWebhook[]>>();
  /** Posts under way per webhook in this process. */
  const posting = new Map<string, number>();
  // Read from Redis once per channel, not per post: a pool changes only when a process grows it or
  // finds a webhook gone — and then tells every process, which drop their copies (a process that
  // kept posting through the webhooks it knew would crowd them).
  const pools = o.feed?.cache<StoredWebhook[]>(POOLS_TOPIC, POOL_COPY_MS);
  const poolChanged = async () => {
    pools?.drop();
    await o.feed?.changed(POOLS_TOPIC);
  };

  // Every webhook answer carries its bucket's state (through a proxy too): remember the latest.
  rest.on(RESTEvents.Response, (request: APIRequest, response: ResponseLike) => {
    // The path, not the route: the route hides ids (/webhooks/:id/:token).
    const match = /^\/webhooks\/(\d+)\//.exec(request.path);
    const remaining = response.headers.get('x-ratelimit-remaining');
    const resetAfter = response.headers.get('x-ratelimit-reset-after');
    if (match?.[1] && remaining !== null && resetAfter !== null) {
      budgets.set(match[1], { remaining: Number(remaining), resetAt: Date.now() + Number(resetAfter) * 1000 });
    }
  });

  /** A channel's pool: this process's copy, else Redis's (`fresh`: Redis's, always). */
  async function readPool(channelId: string, fresh = false): Promise<StoredWebhook[]> {
    const read = async () => {
      // (Read and kept another month in one command: GETEX, Redis 6.2.)
      const stored = await redis.getex(poolKey(channelId), 'EX', POOL_MEMORY_SECONDS);
      return stored === null ? [] : (JSON.parse(stored) as StoredWebhook[]);
    };
    return fresh || !pools ? read() : pools.get(channelId, read);
  }

  /**
   * The webhook a persona posts through in a channel. A channel starts with one; the pool grows by
   * one only when the webhook a post would use is crowded — its own budget (Discord allows each
   * about 5 posts in 2 s) spent, or a budget's worth of posts already waiting on it here — up to
   * WEBHOOK_POOL_SIZE. So a quiet channel costs one creation, a burst gets the webhooks it needs at
   * once, and a new deployment's first seconds are not spent creating webhooks nobody needs yet.
   * Also counts the post as under way on the webhook returned; `done` counts it done.
   */
  async function take(channelId: string, personaId: string): Promise<StoredWebhook> {
    let pool = await choices(channelId, personaId);
    let hook = pool[0];
    if (hook && pool.length < poolSize && load(hook.id) >= CROWDED) {
      // This post would wait seconds for the budget: a new webhook costs one request now.
      pool = await grow(channelId, pool.length + 1, false).catch((err: unknown) => {
        o.onBackgroundError?.(err);
        return pool;
      });
      hook = byLoad(pool, personaId)[0];
    }
    if (!hook) throw new Error(`no webhook available in channel ${channelId}`);
    // Counted at once, before any await: posts choosing at the same moment see each other.
    begin(hook.id);
    return hook;
  }

  async function choices(channelId: string, personaId: string): Promise<StoredWebhook[]> {
    let pool = await readPool(channelId);
    if (pool.length === 0) pool = await grow(channelId, 1, true);
    return byLoad(pool, personaId);
  }

  function begin(webhookId: string): void {
    posting.set(webhookId, (posting.get(webhookId) ?? 0) + 1);
  }

  /** The pool, least busy first; from a persona's own slot among equals, so in a quiet channel it keeps to one. */
  function byLoad(pool: StoredWebhook[], personaId: string): StoredWebhook[] {
    const start = slotOf(personaId) % Math.max(1, pool.length);
    const rotated = pool.map((_, i) => pool[(start + i) % pool.length]!);
    // (A stable sort: equals keep the rotation's order.)
    return rotated.map((hook) => ({ hook, load: load(hook.id) })).sort((a, b) => a.load - b.load).map((c) => c.hook);
  }

  /**
   * Posts waiting on a webhook in this process, plus a full budget's worth while Discord says it is
   * spent or while its last minute holds more than MINUTE_CROWDED requests.
   */
  function load(webhookId: string): number {
    const budget = budgets.get(webhookId);
    const spent = budget !== undefined && budget.remaining <= 0 && budget.resetAt > Date.now();
    return (posting.get(webhookId) ?? 0) + (spent || busyMinute(webhookId) ? CROWDED : 0);
  }

  /** Requests through a webhook (or, from `channelCalls`, posts into a channel) in the last minute, as the shared gate last counted them (0 if none known). */
  function minuteCount(id: string, counts = minuteCalls): number {
    const minute = counts.get(id);
    return minute !== undefined && Date.now() - minute.at < 60_000 ? minute.count : 0;
  }

  function busyMinute(webhookId: string): boolean {
    return minuteCount(webhookId) >= MINUTE_CROWDED;
  }

  /** Grows the pool to `wanted`, one creator at a time in the process and across processes. */
  function grow(channelId: string, wanted: number, mustHaveOne: boolean): Promise<StoredWebhook[]> {
    const running = growing.get(channelId);
    if (running) return running;
    const work = (async () => {
      // Refused lately: the webhooks there still post, and asking again would only be refused (each
      // 403 counts toward Discord's limit on invalid requests).
      if (!mustHaveOne && (await redis.exists(refusedKey(channelId)))) return readPool(channelId, true);
      const lock = `${poolKey(channelId)}:lock`;
      // Another process is creating this channel's webhooks: wait for its first (rare, one-off).
      for (let wait = 5; !(await redis.set(lock, '1', 'PX', 10_000, 'NX')); wait = Math.min(wait * 2, 200)) {
        const pool = await readPool(channelId, true);
        if (!mustHaveOne || pool.length > 0) return pool;
        await new Promise((r) => setTimeout(r, wait));
      }
      try {
        const known = await readPool(channelId, true);
        if (known.length >= wanted) return known;
        // Found full lately: a pool that has webhooks makes do with them, without asking Discord again
        // (each refusal a 400, counted toward its limit on invalid requests).
        if (await redis.exists(fullKey(channelId))) {
          if (known.length === 0) throw new ChannelFullError(channelId);
          return known;
        }
        const pool = await createWebhooks(channelId, wanted, known).catch(async (err: unknown) => {
          if (err instanceof ChannelFullError) await redis.set(fullKey(channelId), '1', 'PX', FULL_RECHECK_MS);
          if (err instanceof MissingPermissionError && known.length > 0) await redis.set(refusedKey(channelId), '1', 'PX', FULL_RECHECK_MS);
          throw err;
        });
        await redis.set(poolKey(channelId), JSON.stringify(pool), 'EX', POOL_MEMORY_SECONDS);
        if (pool.length) await redis.sadd(ourWebhooksKey, ...pool.map((w) => w.id));
        await poolChanged();
        return pool;
      } finally {
        await redis.del(lock);
      }
    })().finally(() => growing.delete(channelId));
    growing.set(channelId, work);
    return work;
  }

  /**
   * Adds webhooks to `known`, first adopting those chorus made here and does not know of: made
   * before (a pool forgotten), or made by a create whose answer was lost (Discord away, a proxy
   * killed), which would otherwise stay unused against the channel's 15.
   */
  // (A channel found full is not asked again for FULL_RECHECK_MS: see ChannelFullError.)
  async function createWebhooks(channelId: string, wanted: number, known: StoredWebhook[]): Promise<StoredWebhook[]> {
    try {
      const pool = [...known];
      const applicationId = await o.identity.applicationId();
      const existing = (await idempotent(() => rest.get(Routes.channelWebhooks(channelId)))) as APIWebhook[];
      const held = new Set(pool.map((w) => w.id));
      const ours = existing
        .filter((w) => w.application_id === applicationId && (w.name ?? '').startsWith(WEBHOOK_NAME) && w.token && !held.has(w.id))
        .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      for (const w of ours) if (pool.length < Math.max(wanted, poolSize)) pool.push({ id: w.id, token: w.token! });
      while (pool.length < wanted) {
        try {
          const created = (await rest.post(Routes.channelWebhooks(channelId), { body: { name: `${WEBHOOK_NAME}-${pool.length + 1}` } })) as APIWebhook;
          if (!created.token) throw new Error('Discord returned a webhook without a token');
          pool.push({ id: created.id, token: created.token });
        } catch (err) {
          // The channel is at Discord's 15-webhook limit: share the webhooks already there, if any
          // (remembered a while, so a crowded pool does not ask again on every post).
          if (err instanceof DiscordAPIError && err.code === 30007) {
            if (pool.length === 0) throw new ChannelFullError(channelId);
            await redis.set(fullKey(channelId), '1', 'PX', FULL_RECHECK_MS);
            break;
          }
          throw err;
        }
      }
      return pool;
    } catch (err) {
      if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('ManageWebhooks', channelId);
      throw err;
    }
  }

  function outgrown(channelId: string, poolLength: number): void {
    if (poolLength >= poolSize) return;
    grow(channelId, poolLength + 1, false).catch((err: unknown) => o.onBackgroundError?.(err));
  }

  /** A persona's place in a pool, for ties. */
  function slotOf(personaId: string): number {
    let h = 0;
    for (const c of personaId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return h;
  }

  return {
    take,
    choices,
    async ready(channelId) {
      await choices(channelId, '');
    },
    begin,
    outgrown,
    done(webhookId) {
      const left = (posting.get(webhookId) ?? 1) - 1;
      if (left > 0) posting.set(webhookId, left);
      else posting.delete(webhookId);
    },
    async byId(channelId, webhookId) {
      return (await readPool(channelId)).find((w) => w.id === webhookId) ?? (await readPool(channelId, true)).find((w) => w.id === webhookId);
    },
    async ids(channelId) {
      return new Set((await readPool(channelId, true)).map((w) => w.id));
    },
    async forget(channelId, webhookId) {
      await FORGET_POOL(redis, [poolKey(channelId)], [webhookId]);
      await poolChanged();
    },
    editDelay(channelId, webhookId) {
      // A crowded minute keeps what is left for the final edit and the channel's next posts.
      if (busyMinute(webhookId) || minuteCount(channelId, channelCalls) >= CHANNEL_MINUTE_CROWDED) return MINUTE_HOLD_MS;
      const budget = budgets.get(webhookId);
      if (!budget || budget.remaining > EDIT_RESERVE) return 0;
      return Math.max(0, budget.resetAt - Date.now());
    },
    roomToStream: (channelId) => minuteCount(channelId, channelCalls) < CHANNEL_MINUTE_TO_STREAM,
    noteWait(webhookId, waitedMs) {
      // Spent for now: the pool grows on the next post that would use it.
      budgets.set(webhookId, { remaining: 0, resetAt: Date.now() + Math.max(waitedMs, 1000) });
    },
    noteCalls(webhookId, lastMinute) {
      minuteCalls.set(webhookId, { count: lastMinute, at: Date.now() });
    },
    noteChannelCalls(channelId, lastMinute) {
      channelCalls.set(channelId, { count: lastMinute, at: Date.now() });
    },
  };
}

// The workers' edge to Discord: REST only (the client is core/rest.ts's). Posts and edits as a
// persona through a small pool of channel webhooks chorus owns, shows typing, and reads history when
// the cache is cold. A post is never retried here: only the reply ledger knows whether to look for
// it first. Reads and edits, which can be repeated safely, are.
import { DiscordAPIError, REST, RESTEvents, type APIRequest, type ResponseLike } from '@discordjs/rest';
import { ChannelType, Routes, type APIChannel, type APIMessage, type APIWebhook } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import type { BotIdentity } from './application.ts';
import type { ChangeFeed } from './changes.ts';
import { redisScript } from './redis-script.ts';
import { idempotent, MissingPermissionError } from './rest.ts';

export const WEBHOOK_NAME = 'chorus';

/** Model text must never ping anyone: no parsed mentions of any kind, on every post and edit. */
export const NO_PINGS = { parse: [] as never[], users: [] as string[], roles: [] as string[], replied_user: false };

export interface Speaker {
  /** Which persona speaks (its webhook slot, when the pool's webhooks are equally free). */
  personaId: string;
  name: string;
  avatarUrl?: string;
}

export interface PostedMessage {
  id: string;
  webhookId: string;
}

/** A channel, and its parent when it is a thread (threads post through their parent's webhooks). */
export interface ChannelRef {
  channelId: string;
  parentId?: string;
}

export interface DiscordEdge {
  /** The newest messages of a channel, oldest first (used only to fill a cold cache). */
  latest(channelId: string, limit: number): Promise<APIMessage[]>;
  postAs(channel: ChannelRef, speaker: Speaker, content: string): Promise<PostedMessage>;
  editAs(channel: ChannelRef, posted: PostedMessage, content: string): Promise<void>;
  typing(channelId: string): Promise<void>;
  /** How long a streaming edit should wait so the webhook's rate budget keeps room to spare (0: now). */
  editDelay(webhookId: string): number;
  /** A post had to wait this long for the webhook's own budget (see RestOptions.onWebhookWait). */
  noteWebhookWait(webhookId: string, waitedMs: number): void;
  /** Requests through a webhook in the last minute, from every process (see RestOptions.onWebhookCalls). */
  noteWebhookCalls(webhookId: string, lastMinute: number): void;
  /** A plain message from the bot itself, for problems a webhook cannot report. */
  postAsBot(channelId: string, content: string): Promise<APIMessage>;
  /**
   * Our post after `afterId` with exactly this content, by the persona of that name (through our
   * webhooks) or, for `null`, by the bot itself: one whose answer was lost. Looks through every
   * message after `afterId`, newest first, up to 1,000.
   */
  findOwnPost(channel: ChannelRef, afterId: string, username: string | null, content: string): Promise<PostedMessage | undefined>;
}

interface Target {
  webhookChannelId: string;
  threadId?: string;
}

interface StoredWebhook {
  id: string;
  token: string;
}

/** Posts waiting on one webhook (its burst of 5 in 2 s, nearly) that make it crowded. */
const CROWDED = 4;

/** Requests kept back from streaming edits for the final edit and the next post. */
const EDIT_RESERVE = 2;

/**
 * Discord also allows a webhook about 30 requests a minute (a shared limit its headers do not
 * show). A webhook past this many in the last minute counts as crowded, so posts go to the pool's
 * others, or the pool grows, before it is spent: its own edits (which must go through it) would
 * otherwise wait out the minute.
 */
const MINUTE_CROWDED = 20;

/** Pages of 100 messages looked through for a post whose answer was lost (see findOwnPost). */
const OWN_POST_PAGES = 10;

/** Channels whose thread parent a process keeps in memory (the busiest, by last use). */
const REMEMBERED_CHANNELS = 10_000;

/** Every process drops its copies of the pools when one changes (see readPool). */
const POOLS_TOPIC = 'webhook-pools';
/** And reads a channel's pool again after this long, whatever it heard. */
const POOL_COPY_MS = 10_000;

/** A Map that forgets its least recently used entry beyond `size`. */
function boundedMap<V>(size: number) {
  const map = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      const value = map.get(key);
      if (value !== undefined) {
        map.delete(key);
        map.set(key, value);
      }
      return value;
    },
    set(key: string, value: V): void {
      map.delete(key);
      map.set(key, value);
      if (map.size > size) map.delete(map.keys().next().value!);
    },
    delete: (key: string) => map.delete(key),
  };
}

// Forgets a channel's pool only if it still holds the webhook found gone: another process may have
// rebuilt it already, from a stale copy of its own. KEYS: the pool. ARGV: the webhook's id.
const FORGET_POOL = redisScript(`
local pool = redis.call('GET', KEYS[1])
if pool and string.find(pool, '"id":"' .. ARGV[1] .. '"', 1, true) then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

export interface EdgeOptions {
  rest: REST;
  redis: Redis;
  prefix: string;
  /** Who the bot is: webhooks it created carry its application id, its own messages its user id. */
  identity: BotIdentity;
  poolSize: number;
  /** Pools are kept in memory, dropped when any process changes one; without a feed, read per post. */
  feed?: ChangeFeed;
  /** Called when growing a pool in the background fails. */
  onBackgroundError?: (err: unknown) => void;
  /** Called with something an operator should know that is not an error of a request. */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
}

export function createDiscordEdge(o: EdgeOptions): DiscordEdge {
  const { rest, redis, prefix, poolSize } = o;
  const targetKey = (channelId: string) => `${prefix}:channel:${channelId}`;
  const poolKey = (channelId: string) => `${prefix}:webhooks:${channelId}`;
  const ourWebhooksKey = `${prefix}:our-webhooks`;
  const budgets = new Map<string, { remaining: number; resetAt: number }>();
  /** Each webhook's requests in the last minute, as the shared gate last counted them. */
  const minuteCalls = new Map<string, { count: number; at: number }>();
  const growing = new Map<string, Promise<StoredWebhook[]>>();
  /** Posts under way per webhook in this process. */
  const posting = new Map<string, number>();
  // Read from Redis once per channel, not per post: a channel's thread parent never changes, and its
  // pool only when a process grows it or finds a webhook gone — and then tells every process, which
  // drop their copies (a process that kept posting through the webhooks it knew would crowd them).
  const targets = boundedMap<Target>(REMEMBERED_CHANNELS);
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

  /** Threads post through their parent's webhooks with `thread_id`. Known from the job, else read once. */
  async function targetOf(channel: ChannelRef): Promise<Target> {
    if (channel.parentId) return { webhookChannelId: channel.parentId, threadId: channel.channelId };
    const known = targets.get(channel.channelId);
    if (known) return known;
    const cached = await redis.get(targetKey(channel.channelId));
    let target: Target;
    if (cached !== null) target = JSON.parse(cached) as Target;
    else {
      const found = (await idempotent(() => rest.get(Routes.channel(channel.channelId)))) as APIChannel;
      const isThread = found.type === ChannelType.PublicThread || found.type === ChannelType.PrivateThread || found.type === ChannelType.AnnouncementThread;
      target = isThread && found.parent_id ? { webhookChannelId: found.parent_id, threadId: channel.channelId } : { webhookChannelId: channel.channelId };
      await redis.set(targetKey(channel.channelId), JSON.stringify(target));
    }
    targets.set(channel.channelId, target);
    return target;
  }

  /** A channel's pool: this process's copy, else Redis's (`fresh`: Redis's, always). */
  async function readPool(channelId: string, fresh = false): Promise<StoredWebhook[]> {
    const read = async () => {
      const stored = await redis.get(poolKey(channelId));
      return stored === null ? [] : (JSON.parse(stored) as StoredWebhook[]);
    };
    return fresh || !pools ? read() : pools.get(channelId, read);
  }

  /** The pool's webhook that posted a message (another process may have added it since this one read the pool). */
  async function hookById(channelId: string, webhookId: string): Promise<StoredWebhook | undefined> {
    return (await readPool(channelId)).find((w) => w.id === webhookId) ?? (await readPool(channelId, true)).find((w) => w.id === webhookId);
  }

  /**
   * The webhook a persona posts through in a channel. A channel starts with one; the pool grows by
   * one only when the webhook a post would use is crowded — its own budget (Discord allows each
   * about 5 posts in 2 s) spent, or a budget's worth of posts already waiting on it here — up to
   * WEBHOOK_POOL_SIZE. So a quiet channel costs one creation, a burst gets the webhooks it needs at
   * once, and a new deployment's first seconds are not spent creating webhooks nobody needs yet.
   */
  /** Also counts the post as under way on the webhook returned; postAs counts it done. */
  async function webhookFor(channelId: string, personaId: string): Promise<StoredWebhook> {
    let pool = await readPool(channelId);
    if (pool.length === 0) pool = await grow(channelId, 1, true);
    let hook = leastBusy(pool, personaId);
    if (hook && pool.length < poolSize && load(hook.id) >= CROWDED) {
      // This post would wait seconds for the budget: a new webhook costs one request now.
      pool = await grow(channelId, pool.length + 1, false).catch((err: unknown) => {
        o.onBackgroundError?.(err);
        return pool;
      });
      hook = leastBusy(pool, personaId);
    }
    if (!hook) throw new Error(`no webhook available in channel ${channelId}`);
    // Counted at once, before any await: posts choosing at the same moment see each other.
    posting.set(hook.id, (posting.get(hook.id) ?? 0) + 1);
    return hook;
  }

  /** The pool's least busy webhook; a persona's own slot wins ties, so in a quiet channel it keeps to one. */
  function leastBusy(pool: StoredWebhook[], personaId: string): StoredWebhook | undefined {
    const start = slotOf(personaId) % Math.max(1, pool.length);
    let best: StoredWebhook | undefined;
    for (let i = 0; i < pool.length; i++) {
      const candidate = pool[(start + i) % pool.length]!;
      if (!best || load(candidate.id) < load(best.id)) best = candidate;
    }
    return best;
  }

  /**
   * Posts waiting on a webhook in this process, plus a full budget's worth while Discord says it is
   * spent or while its last minute holds more than MINUTE_CROWDED requests.
   */
  function load(webhookId: string): number {
    const now = Date.now();
    const budget = budgets.get(webhookId);
    const spent = budget !== undefined && budget.remaining <= 0 && budget.resetAt > now;
    const minute = minuteCalls.get(webhookId);
    const busyMinute = minute !== undefined && now - minute.at < 60_000 && minute.count >= MINUTE_CROWDED;
    return (posting.get(webhookId) ?? 0) + (spent || busyMinute ? CROWDED : 0);
  }

  /** Grows the pool to `wanted`, one creator at a time in the process and across processes. */
  function grow(channelId: string, wanted: number, mustHaveOne: boolean): Promise<StoredWebhook[]> {
    const running = growing.get(channelId);
    if (running) return running;
    const work = (async () => {
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
        const pool = await createWebhooks(channelId, wanted, known);
        await redis.set(poolKey(channelId), JSON.stringify(pool));
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

  /** Adds webhooks to `known`; with none known, first adopts the ones chorus made here before. */
  async function createWebhooks(channelId: string, wanted: number, known: StoredWebhook[]): Promise<StoredWebhook[]> {
    try {
      const pool = [...known];
      if (pool.length === 0) {
        const applicationId = await o.identity.applicationId();
        const existing = (await idempotent(() => rest.get(Routes.channelWebhooks(channelId)))) as APIWebhook[];
        pool.push(
          ...existing
            .filter((w) => w.application_id === applicationId && (w.name ?? '').startsWith(WEBHOOK_NAME) && w.token)
            .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
            .map((w) => ({ id: w.id, token: w.token! })),
        );
      }
      while (pool.length < wanted) {
        try {
          const created = (await rest.post(Routes.channelWebhooks(channelId), { body: { name: `${WEBHOOK_NAME}-${pool.length + 1}` } })) as APIWebhook;
          if (!created.token) throw new Error('Discord returned a webhook without a token');
          pool.push({ id: created.id, token: created.token });
        } catch (err) {
          // The channel is at Discord's 15-webhook limit: share the webhooks already there.
          if (err instanceof DiscordAPIError && err.code === 30007 && pool.length > 0) break;
          throw err;
        }
      }
      return pool;
    } catch (err) {
      if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('ManageWebhooks', channelId);
      throw err;
    }
  }

  /** A persona's place in a pool, for ties. */
  function slotOf(personaId: string): number {
    let h = 0;
    for (const c of personaId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return h;
  }

  async function listMessages(channelId: string, query: Record<string, string>): Promise<APIMessage[]> {
    const page = (await idempotent(() => rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams(query) }))) as APIMessage[];
    return page.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  const threadQuery = (target: Target, extra: Record<string, string> = {}) =>
    new URLSearchParams({ ...extra, ...(target.threadId ? { thread_id: target.threadId } : {}) });

  /** Someone deleted or reset our webhook: forget the pool so the next use rebuilds it. */
  async function forgetIfGone(target: Target, webhookId: string, err: unknown): Promise<boolean> {
    if (!(err instanceof DiscordAPIError) || (err.code !== 10015 && err.code !== 50027)) return false;
    await FORGET_POOL(redis, [poolKey(target.webhookChannelId)], [webhookId]);
    await poolChanged();
    return true;
  }

  return {
    latest: (channelId, limit) => listMessages(channelId, { limit: String(Math.min(100, limit)) }),

    async postAs(channel, speaker, content) {
      const target = await targetOf(channel);
      for (let attempt = 0; ; attempt++) {
        const hook = await webhookFor(target.webhookChannelId, speaker.personaId);
        const body = { content, username: speaker.name, ...(speaker.avatarUrl ? { avatar_url: speaker.avatarUrl } : {}), allowed_mentions: NO_PINGS };
        try {
          const message = (await rest.post(Routes.webhook(hook.id, hook.token), { body, query: threadQuery(target, { wait: 'true' }), auth: false })) as APIMessage;
          return { id: message.id, webhookId: hook.id };
        } catch (err) {
          // A webhook refusing means it is gone: Discord carried nothing out, so posting again is safe.
          if (attempt === 0 && (await forgetIfGone(target, hook.id, err))) continue;
          throw err;
        } finally {
          const left = (posting.get(hook.id) ?? 1) - 1;
          if (left > 0) posting.set(hook.id, left);
          else posting.delete(hook.id);
        }
      }
    },

    async editAs(channel, posted, content) {
      const target = await targetOf(channel);
      const hook = await hookById(target.webhookChannelId, posted.webhookId);
      if (!hook) throw new DiscordAPIError({ code: 10015, message: 'Unknown Webhook' }, 10015, 404, 'PATCH', 'webhook', {});
      // An edit without allowed_mentions is parsed with Discord's defaults and would ping.
      await idempotent(() => rest.patch(Routes.webhookMessage(hook.id, hook.token, posted.id), { body: { content, allowed_mentions: NO_PINGS }, query: threadQuery(target), auth: false }));
    },

    async typing(channelId) {
      try {
        await rest.post(Routes.channelTyping(channelId));
      } catch (err) {
        if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('SendMessages', channelId);
        throw err;
      }
    },

    noteWebhookWait(webhookId, waitedMs) {
      // Spent for now: the pool grows on the next post that would use it.
      budgets.set(webhookId, { remaining: 0, resetAt: Date.now() + Math.max(waitedMs, 1000) });
    },

    noteWebhookCalls(webhookId, lastMinute) {
      minuteCalls.set(webhookId, { count: lastMinute, at: Date.now() });
      if (minuteCalls.size > REMEMBERED_CHANNELS) minuteCalls.delete(minuteCalls.keys().next().value!);
    },

    editDelay(webhookId) {
      const budget = budgets.get(webhookId);
      if (!budget || budget.remaining > EDIT_RESERVE) return 0;
      return Math.max(0, budget.resetAt - Date.now());
    },

    async postAsBot(channelId, content) {
      try {
        return (await rest.post(Routes.channelMessages(channelId), { body: { content, allowed_mentions: NO_PINGS } })) as APIMessage;
      } catch (err) {
        if (err instanceof DiscordAPIError && err.status === 403) throw new MissingPermissionError('SendMessages', channelId);
        throw err;
      }
    },

    async findOwnPost(channel, afterId, username, content) {
      const target = await targetOf(channel);
      const ours = new Set((await readPool(target.webhookChannelId, true)).map((w) => w.id)); // every process's webhooks
      const botId = username === null ? await o.identity.botUserId() : undefined;
      const after = BigInt(afterId);
      // Every message after `afterId`, newest page first, back to `afterId`: in a quiet channel one
      // request, and in a busy one the post is found however many messages followed it (up to a cap).
      let before: string | undefined;
      for (let page = 0; page < OWN_POST_PAGES; page++) {
        const messages = await listMessages(channel.channelId, { limit: '100', ...(before ? { before } : {}) });
        const found = messages.find(
          (m) =>
            BigInt(m.id) > after &&
            m.content === content &&
            (username === null ? !m.webhook_id && m.author.id === botId : m.webhook_id !== undefined && ours.has(m.webhook_id) && m.author.username === username),
        );
        if (found) return { id: found.id, webhookId: found.webhook_id ?? 'bot' };
        const oldest = messages[0];
        if (messages.length < 100 || !oldest || BigInt(oldest.id) <= after) return undefined;
        before = oldest.id;
      }
      o.onWarning?.('a post whose answer was lost was not found among the messages looked through; it will be sent again', { channelId: channel.channelId, afterId, messages: OWN_POST_PAGES * 100 });
      return undefined;
    },
  };
}

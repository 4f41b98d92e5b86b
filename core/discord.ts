// The worker's edge to Discord: REST only. Posts and edits as a persona through a small pool of
// channel webhooks chorus owns, shows typing, and reads history when the cache is cold.
import { DiscordAPIError, REST, RESTEvents, type APIRequest, type ResponseLike } from '@discordjs/rest';
import { ChannelType, Routes, type APIChannel, type APIMessage, type APIWebhook } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';

export const WEBHOOK_NAME = 'chorus';

/** Model text must never ping anyone: no parsed mentions of any kind, on every post and edit. */
export const NO_PINGS = { parse: [] as never[], users: [] as string[], roles: [] as string[], replied_user: false };

export interface Speaker {
  /** Picks the pool webhook, so one persona's posts keep their order on one webhook. */
  personaId: string;
  name: string;
  avatarUrl?: string;
}

export interface PostedMessage {
  id: string;
  webhookId: string;
}

export interface DiscordEdge {
  /** The newest messages of a channel, oldest first (used only to fill a cold cache). */
  latest(channelId: string, limit: number): Promise<APIMessage[]>;
  /** Messages after `afterId`, oldest first (used to reconcile an interrupted post). */
  messagesAfter(channelId: string, afterId: string, limit: number): Promise<APIMessage[]>;
  postAs(channelId: string, speaker: Speaker, content: string): Promise<PostedMessage>;
  editAs(channelId: string, posted: PostedMessage, content: string): Promise<void>;
  typing(channelId: string): Promise<void>;
  /** How long a streaming edit should wait so the webhook's rate budget keeps room to spare (0: now). */
  editDelay(webhookId: string): number;
  /** A plain message from the bot itself, for problems a webhook cannot report. */
  postAsBot(channelId: string, content: string): Promise<APIMessage>;
  /** Ids of the webhooks chorus posts through in this channel. */
  webhookIds(channelId: string): Promise<string[]>;
}

export class MissingPermissionError extends Error {
  override name = 'MissingPermissionError';
}

/** Behind chorus's REST proxy the proxy keeps the global limit; alone, a process keeps its own. */
export function createRest(apiUrl: string, token: string, proxied = false): REST {
  return new REST({ api: apiUrl, version: '10', ...(proxied ? { globalRequestsPerSecond: 10_000 } : {}) }).setToken(token);
}

interface Target {
  webhookChannelId: string;
  threadId?: string;
}

interface StoredWebhook {
  id: string;
  token: string;
}

/** Requests kept back from streaming edits for the final edit and the next post. */
const EDIT_RESERVE = 2;

export function createDiscordEdge(rest: REST, redis: Redis, prefix: string, applicationId: string, poolSize: number): DiscordEdge {
  const targetKey = (channelId: string) => `${prefix}:channel:${channelId}`;
  const poolKey = (channelId: string) => `${prefix}:webhooks:${channelId}`;
  const ourWebhooksKey = `${prefix}:our-webhooks`;
  const budgets = new Map<string, { remaining: number; resetAt: number }>();

  // Every webhook answer carries its bucket's state (through a proxy too): remember the latest.
  rest.on(RESTEvents.Response, (request: APIRequest, response: ResponseLike) => {
    const match = /^\/webhooks\/(\d+)\//.exec(request.route);
    const remaining = response.headers.get('x-ratelimit-remaining');
    const resetAfter = response.headers.get('x-ratelimit-reset-after');
    if (match?.[1] && remaining !== null && resetAfter !== null) {
      budgets.set(match[1], { remaining: Number(remaining), resetAt: Date.now() + Number(resetAfter) * 1000 });
    }
  });

  /** Threads post through their parent channel's webhooks with `thread_id`. Cached: it never changes. */
  async function targetOf(channelId: string): Promise<Target> {
    const cached = await redis.get(targetKey(channelId));
    if (cached !== null) return JSON.parse(cached) as Target;
    const channel = (await rest.get(Routes.channel(channelId))) as APIChannel;
    const isThread =
      channel.type === ChannelType.PublicThread || channel.type === ChannelType.PrivateThread || channel.type === ChannelType.AnnouncementThread;
    const target: Target = isThread && channel.parent_id ? { webhookChannelId: channel.parent_id, threadId: channelId } : { webhookChannelId: channelId };
    await redis.set(targetKey(channelId), JSON.stringify(target));
    return target;
  }

  async function readPool(channelId: string): Promise<StoredWebhook[]> {
    const cached = await redis.get(poolKey(channelId));
    return cached === null ? [] : (JSON.parse(cached) as StoredWebhook[]);
  }

  /** The pool webhook for a slot, adopting or creating webhooks as needed (one creator at a time). */
  async function webhookFor(channelId: string, slot: number): Promise<StoredWebhook> {
    let pool = await readPool(channelId);
    if (pool[slot]) return pool[slot];
    const lock = `${poolKey(channelId)}:lock`;
    for (let tries = 0; tries < 100; tries++) {
      if (await redis.set(lock, '1', 'PX', 10_000, 'NX')) {
        try {
          pool = await growPool(channelId, slot + 1);
          await redis.set(poolKey(channelId), JSON.stringify(pool));
          if (pool.length) await redis.sadd(ourWebhooksKey, ...pool.map((w) => w.id));
        } finally {
          await redis.del(lock);
        }
        break;
      }
      // Another worker is creating this channel's webhooks; rare, and over within a request or two.
      await new Promise((r) => setTimeout(r, 50));
      pool = await readPool(channelId);
      if (pool[slot]) return pool[slot];
    }
    const hook = pool[slot] ?? pool[slot % Math.max(1, pool.length)];
    if (!hook) throw new Error(`no webhook available in channel ${channelId}`);
    return hook;
  }

  async function growPool(channelId: string, wanted: number): Promise<StoredWebhook[]> {
    try {
      const existing = (await rest.get(Routes.channelWebhooks(channelId))) as APIWebhook[];
      const pool: StoredWebhook[] = existing
        .filter((w) => w.application_id === applicationId && (w.name ?? '').startsWith(WEBHOOK_NAME) && w.token)
        .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
        .map((w) => ({ id: w.id, token: w.token! }));
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
      if (err instanceof DiscordAPIError && (err.code === 50013 || err.status === 403)) {
        throw new MissingPermissionError(`chorus needs the Manage Webhooks permission in channel ${channelId}`);
      }
      throw err;
    }
  }

  function slotOf(personaId: string): number {
    let h = 0;
    for (const c of personaId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return h % poolSize;
  }

  async function listMessages(channelId: string, query: Record<string, string>): Promise<APIMessage[]> {
    const page = (await rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams(query) })) as APIMessage[];
    return page.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  async function withWebhook<T>(channelId: string, personaId: string, use: (hook: StoredWebhook, target: Target) => Promise<T>): Promise<T> {
    const target = await targetOf(channelId);
    for (let attempt = 0; ; attempt++) {
      const hook = await webhookFor(target.webhookChannelId, slotOf(personaId));
      try {
        return await use(hook, target);
      } catch (err) {
        // Someone deleted our webhook: forget the pool and rebuild it, once.
        if (attempt === 0 && err instanceof DiscordAPIError && err.code === 10015) {
          await redis.del(poolKey(target.webhookChannelId));
          continue;
        }
        throw err;
      }
    }
  }

  const threadQuery = (target: Target, extra: Record<string, string> = {}) =>
    new URLSearchParams({ ...extra, ...(target.threadId ? { thread_id: target.threadId } : {}) });

  return {
    latest: (channelId, limit) => listMessages(channelId, { limit: String(Math.min(100, limit)) }),
    messagesAfter: (channelId, afterId, limit) => listMessages(channelId, { after: afterId, limit: String(Math.min(100, limit)) }),

    postAs(channelId, speaker, content) {
      return withWebhook(channelId, speaker.personaId, async (hook, target) => {
        const body = { content, username: speaker.name, ...(speaker.avatarUrl ? { avatar_url: speaker.avatarUrl } : {}), allowed_mentions: NO_PINGS };
        const message = (await rest.post(Routes.webhook(hook.id, hook.token), { body, query: threadQuery(target, { wait: 'true' }), auth: false })) as APIMessage;
        return { id: message.id, webhookId: hook.id };
      });
    },

    async editAs(channelId, posted, content) {
      const target = await targetOf(channelId);
      const pool = await readPool(target.webhookChannelId);
      const hook = pool.find((w) => w.id === posted.webhookId);
      if (!hook) throw new Error(`webhook ${posted.webhookId} is no longer in the pool`);
      // An edit without allowed_mentions is parsed with Discord's defaults and would ping.
      await rest.patch(Routes.webhookMessage(hook.id, hook.token, posted.id), { body: { content, allowed_mentions: NO_PINGS }, query: threadQuery(target), auth: false });
    },

    async typing(channelId) {
      await rest.post(Routes.channelTyping(channelId));
    },

    editDelay(webhookId) {
      const budget = budgets.get(webhookId);
      if (!budget || budget.remaining > EDIT_RESERVE) return 0;
      return Math.max(0, budget.resetAt - Date.now());
    },

    async postAsBot(channelId, content) {
      return (await rest.post(Routes.channelMessages(channelId), { body: { content, allowed_mentions: NO_PINGS } })) as APIMessage;
    },

    async webhookIds(channelId) {
      const target = await targetOf(channelId);
      return (await readPool(target.webhookChannelId)).map((w) => w.id);
    },
  };
}

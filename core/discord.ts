// The worker's edge to Discord: REST only. Posts as a persona through a channel webhook that
// chorus owns, and reads channel history.
import { DiscordAPIError, REST } from '@discordjs/rest';
import {
  ChannelType,
  Routes,
  type APIChannel,
  type APIMessage,
  type APIWebhook,
  type RESTPostAPIWebhookWithTokenJSONBody,
} from 'discord-api-types/v10';
import type { Redis } from 'ioredis';

export const WEBHOOK_NAME = 'chorus';

/** Model text must never ping anyone: no parsed mentions of any kind, on every post and edit. */
export const NO_PINGS = { parse: [] as never[], users: [] as string[], roles: [] as string[], replied_user: false };

export interface Speaker {
  name: string;
  avatarUrl?: string;
}

export interface DiscordEdge {
  /** Messages before `beforeId`, oldest first. */
  history(channelId: string, beforeId: string, limit: number): Promise<APIMessage[]>;
  /** Messages after `afterId`, oldest first (used to reconcile an interrupted post). */
  messagesAfter(channelId: string, afterId: string, limit: number): Promise<APIMessage[]>;
  postAs(channelId: string, speaker: Speaker, content: string): Promise<APIMessage>;
  /** A plain message from the bot itself, for problems a webhook cannot report. */
  postAsBot(channelId: string, content: string): Promise<APIMessage>;
  /** The webhook id chorus posts through in this channel (for recognising its own posts). */
  webhookIdFor(channelId: string): Promise<string>;
}

export class MissingPermissionError extends Error {
  override name = 'MissingPermissionError';
}

export function createRest(apiUrl: string, token: string): REST {
  return new REST({ api: apiUrl, version: '10' }).setToken(token);
}

interface Target {
  webhookChannelId: string;
  threadId?: string;
}

interface StoredWebhook {
  id: string;
  token: string;
}

export function createDiscordEdge(rest: REST, redis: Redis, prefix: string, applicationId: string): DiscordEdge {
  const targetKey = (channelId: string) => `${prefix}:channel:${channelId}`;
  const webhookKey = (channelId: string) => `${prefix}:webhook:${channelId}`;

  /** Threads post through their parent channel's webhook with `thread_id`. Cached: it never changes. */
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

  async function webhookOf(channelId: string): Promise<StoredWebhook> {
    const cached = await redis.get(webhookKey(channelId));
    if (cached !== null) return JSON.parse(cached) as StoredWebhook;
    // Several workers may meet a new channel at once: one creates, the others wait for it.
    const lock = `${webhookKey(channelId)}:lock`;
    for (let tries = 0; tries < 50; tries++) {
      if (await redis.set(lock, '1', 'PX', 10_000, 'NX')) {
        try {
          const found = await adoptOrCreateWebhook(channelId);
          await redis.set(webhookKey(channelId), JSON.stringify(found));
          return found;
        } finally {
          await redis.del(lock);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
      const now = await redis.get(webhookKey(channelId));
      if (now !== null) return JSON.parse(now) as StoredWebhook;
    }
    throw new Error(`timed out waiting for the webhook of channel ${channelId}`);
  }

  async function adoptOrCreateWebhook(channelId: string): Promise<StoredWebhook> {
    try {
      const existing = (await rest.get(Routes.channelWebhooks(channelId))) as APIWebhook[];
      const ours = existing.find((w) => w.application_id === applicationId && w.name === WEBHOOK_NAME && w.token);
      if (ours?.token) return { id: ours.id, token: ours.token };
      const created = (await rest.post(Routes.channelWebhooks(channelId), { body: { name: WEBHOOK_NAME } })) as APIWebhook;
      if (!created.token) throw new Error('Discord returned a webhook without a token');
      return { id: created.id, token: created.token };
    } catch (err) {
      if (err instanceof DiscordAPIError && (err.code === 50013 || err.status === 403)) {
        throw new MissingPermissionError(`chorus needs the Manage Webhooks permission in channel ${channelId}`);
      }
      throw err;
    }
  }

  async function listMessages(channelId: string, query: Record<string, string>): Promise<APIMessage[]> {
    const page = (await rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams(query) })) as APIMessage[];
    return page.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  return {
    history: (channelId, beforeId, limit) => listMessages(channelId, { before: beforeId, limit: String(Math.min(100, limit)) }),
    messagesAfter: (channelId, afterId, limit) => listMessages(channelId, { after: afterId, limit: String(Math.min(100, limit)) }),

    async postAs(channelId, speaker, content) {
      const target = await targetOf(channelId);
      const body: RESTPostAPIWebhookWithTokenJSONBody = {
        content,
        username: speaker.name,
        ...(speaker.avatarUrl ? { avatar_url: speaker.avatarUrl } : {}),
        allowed_mentions: NO_PINGS,
      };
      const query = new URLSearchParams({ wait: 'true', ...(target.threadId ? { thread_id: target.threadId } : {}) });
      for (let attempt = 0; ; attempt++) {
        const hook = await webhookOf(target.webhookChannelId);
        try {
          return (await rest.post(Routes.webhook(hook.id, hook.token), { body, query, auth: false })) as APIMessage;
        } catch (err) {
          // Someone deleted our webhook: forget it and make a new one, once.
          if (attempt === 0 && err instanceof DiscordAPIError && err.code === 10015) {
            await redis.del(webhookKey(target.webhookChannelId));
            continue;
          }
          throw err;
        }
      }
    },

    async postAsBot(channelId, content) {
      return (await rest.post(Routes.channelMessages(channelId), { body: { content, allowed_mentions: NO_PINGS } })) as APIMessage;
    },

    async webhookIdFor(channelId) {
      const target = await targetOf(channelId);
      return (await webhookOf(target.webhookChannelId)).id;
    },
  };
}

// Permissions chorus was refused in a channel, remembered so that a channel without them costs no
// more requests: Discord bans an address for an hour after 10,000 invalid requests (401, 403, 429)
// in ten minutes, and a busy channel without Manage Webhooks would spend three a message. The
// gateway forgets a refusal when permissions change (a channel, role or the bot's member updated);
// a day's expiry covers a change it missed.
import type { Redis } from 'ioredis';
import type { ChannelPermission } from './rest.ts';

export interface ChannelAccess {
  /**
   * Permissions chorus was refused in this channel and has not heard were granted since. A thread's
   * webhooks are its parent's (`parentId`): Manage Webhooks refused there is missing in every thread
   * of it, new ones too.
   */
  missing(channelId: string, parentId?: string): Promise<Set<ChannelPermission>>;
  /** Remembers a refusal; true the first time (the moment to tell the channel, once). */
  refuse(channelId: string, guildId: string | undefined, permission: ChannelPermission): Promise<boolean>;
  /** Permissions changed in a channel (and its threads) or a whole guild: try again. */
  forgetChannel(channelId: string): Promise<void>;
  forgetGuild(guildId: string): Promise<void>;
  /** chorus was removed from a server: turns still queued there are let go, not refused one by one. */
  leftGuild(guildId: string): Promise<void>;
  hasLeft(guildId: string): Promise<boolean>;
}

const TTL_SECONDS = 24 * 3600;

export function createChannelAccess(redis: Redis, prefix: string): ChannelAccess {
  const key = (channelId: string) => `${prefix}:refused:${channelId}`;
  const guildKey = (guildId: string) => `${prefix}:refused-in-guild:${guildId}`;
  const leftKey = (guildId: string) => `${prefix}:left-guild:${guildId}`;
  return {
    async missing(channelId, parentId) {
      const [own, parent] = await Promise.all([redis.hkeys(key(channelId)), parentId ? redis.hkeys(key(parentId)) : []]);
      return new Set([...own, ...parent.filter((p) => p === 'ManageWebhooks')] as ChannelPermission[]);
    },
    async refuse(channelId, guildId, permission) {
      const m = redis.multi().hsetnx(key(channelId), permission, String(Date.now())).expire(key(channelId), TTL_SECONDS);
      if (guildId) m.sadd(guildKey(guildId), channelId).expire(guildKey(guildId), TTL_SECONDS);
      const [[, added]] = (await m.exec()) as [[unknown, number]];
      return added === 1;
    },
    async forgetChannel(channelId) {
      await redis.del(key(channelId));
    },
    async forgetGuild(guildId) {
      const channels = await redis.smembers(guildKey(guildId));
      await redis.del(guildKey(guildId), leftKey(guildId), ...channels.map(key));
    },
    async leftGuild(guildId) {
      await redis.set(leftKey(guildId), String(Date.now()), 'EX', TTL_SECONDS);
    },
    hasLeft: async (guildId) => (await redis.exists(leftKey(guildId))) === 1,
  };
}

// Where a channel's replies are posted: its own webhooks, or, for a thread, its parent's with
// `thread_id`. The gateway writes each channel's place to Redis as it learns channels; the workers
// read it there, and either looks a channel up once from Discord when Redis does not know it.
import type { REST } from '@discordjs/rest';
import { ChannelType, Routes, type APIChannel } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { idempotent } from './rest.ts';

export interface ChannelTarget {
  webhookChannelId: string;
  threadId?: string;
}

/** The channel types that are threads. Any other channel's `parent_id` is its category, which has no webhooks. */
export const THREAD_TYPES = new Set<number>([ChannelType.AnnouncementThread, ChannelType.PublicThread, ChannelType.PrivateThread]);

/** Pure: a channel's target from what Discord says of it. */
export function channelTarget(c: { id: string; type: number; parent_id?: string | null | undefined }): ChannelTarget {
  return THREAD_TYPES.has(c.type) && c.parent_id ? { webhookChannelId: c.parent_id, threadId: c.id } : { webhookChannelId: c.id };
}

/** The Redis key of a channel's target. */
export const channelTargetKey = (prefix: string, channelId: string) => `${prefix}:channel:${channelId}`;

/** The Redis key of a channel's webhook pool (it holds the webhooks' tokens). */
export const webhookPoolKey = (prefix: string, channelId: string) => `${prefix}:webhooks:${channelId}`;

/**
 * How long a channel's target is kept once learned: a channel's type and parent do not change, but
 * every thread ever seen would otherwise stay in Redis for good. Forgotten, it is read again.
 */
export const CHANNEL_TARGET_SECONDS = 30 * 24 * 3600;

/** A channel's target as Redis knows it, else read once from Discord and kept there. */
export async function lookUpChannelTarget(rest: REST, redis: Redis, prefix: string, channelId: string): Promise<ChannelTarget> {
  const cached = await redis.get(channelTargetKey(prefix, channelId));
  if (cached !== null) return JSON.parse(cached) as ChannelTarget;
  const found = (await idempotent(() => rest.get(Routes.channel(channelId)))) as APIChannel;
  const target = channelTarget({ id: channelId, type: found.type, parent_id: 'parent_id' in found ? found.parent_id : undefined });
  await redis.set(channelTargetKey(prefix, channelId), JSON.stringify(target), 'EX', CHANNEL_TARGET_SECONDS);
  return target;
}

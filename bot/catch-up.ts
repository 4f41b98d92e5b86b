// What people wrote while the gateway had no session. A resumed session has Discord replay what it
// missed (bot/connection.ts saves its position only past events fully handled), but a fresh one
// (READY: the old session expired during a long outage, or Discord invalidated it) starts from
// now: a message written meanwhile would never be answered. So after READY the gateway reads, in
// the channels it heard from lately, what was written before the session began, and routes it as
// it would have. Routing one twice costs nothing: a message's reply job is one job (`msg-<id>`),
// and a worker never answers a message twice as the same persona (workers/reply.ts). In a recorded
// channel it also reads what was edited or deleted meanwhile (`changedWhileAway`): a deletion the
// transcript never heard of would leave the deleted words in its exports.
import { Routes, type APIMessage } from 'discord-api-types/v10';
import type { REST } from '@discordjs/rest';
import type { Redis } from 'ioredis';
import { snowflakeAt, snowflakeTime } from '../core/messages.ts';

/** A message older than this when the session begins is not answered late: the talk has moved on. */
export const CATCH_UP_MS = 10 * 60_000;
/** Channels heard from within this are read; at most this many, the latest heard first. */
const HEARD_WITHIN_MS = 24 * 3600_000;
const MAX_CHANNELS = 200;
/** Channels read at once: the bot's 50 requests a second are shared with replies. */
const AT_ONCE = 4;
/** Pages of 100 read in one channel at most: a channel busier than that in ten minutes is rare. */
const MAX_PAGES = 5;

const heardKey = (prefix: string) => `${prefix}:gateway-heard`;
/** How often a gateway drops the channels it has not heard from within HEARD_WITHIN_MS. */
const HEARD_TRIM_EVERY_MS = 3600_000;
const DM = '@me';

export interface HeardChannel {
  channelId: string;
  guildId?: string;
  /** When the gateway last routed a message there (ms since the epoch). */
  heardAt: number;
}

/** When this process last dropped channels not heard from lately, per prefix. */
const trimmedAt = new Map<string, number>();

/**
 * Notes that the gateway routed a message in the channel: after a fresh session it is read again.
 * Channels not heard from lately are dropped now and then here too: a gateway that keeps resuming
 * its session never reads the list (which drops them), and would keep every channel it ever heard.
 */
export function noteHeard(redis: Redis, prefix: string, channelId: string, guildId: string | undefined, at: number): Promise<unknown> {
  const noted = redis.zadd(heardKey(prefix), at, `${guildId ?? DM}/${channelId}`);
  if (at - (trimmedAt.get(prefix) ?? 0) < HEARD_TRIM_EVERY_MS) return noted;
  trimmedAt.set(prefix, at);
  return Promise.all([noted, redis.zremrangebyscore(heardKey(prefix), '-inf', `(${at - HEARD_WITHIN_MS}`)]);
}

/** Forgets a deleted channel. */
export function forgetHeard(redis: Redis, prefix: string, channelId: string, guildId: string | undefined): Promise<unknown> {
  return redis.zrem(heardKey(prefix), `${guildId ?? DM}/${channelId}`);
}

/** The shard a guild's events come on (Discord's formula); direct messages come on shard 0. */
export function shardOf(guildId: string | undefined, shardCount: number): number {
  return guildId ? Number((BigInt(guildId) >> 22n) % BigInt(shardCount)) : 0;
}

/** The channels of one shard heard from lately, latest first; older entries are dropped. */
export async function heardChannels(redis: Redis, prefix: string, shard: readonly [number, number], now: number): Promise<HeardChannel[]> {
  const since = now - HEARD_WITHIN_MS;
  await redis.zremrangebyscore(heardKey(prefix), '-inf', `(${since}`);
  // (Enough of the latest for this shard's share, not every channel heard from in a day.)
  const flat = await redis.zrevrangebyscore(heardKey(prefix), '+inf', since, 'WITHSCORES', 'LIMIT', 0, Math.min(MAX_CHANNELS * shard[1] * 2, 20_000));
  const out: HeardChannel[] = [];
  for (let i = 0; i + 1 < flat.length && out.length < MAX_CHANNELS; i += 2) {
    const [guild, channelId] = flat[i]!.split('/') as [string, string];
    const guildId = guild === DM ? undefined : guild;
    if (shardOf(guildId, shard[1]) === shard[0]) out.push({ channelId, ...(guildId ? { guildId } : {}), heardAt: Number(flat[i + 1]) });
  }
  return out;
}

/** How far Discord's clock and the gateway's may differ. */
const CLOCK_MARGIN_MS = 5_000;

/** Where a channel's missed messages may begin: a little before the gateway last heard there (clocks differ), and not too old to answer. */
const windowStart = (heardAt: number, sessionAt: number) => Math.max(heardAt - CLOCK_MARGIN_MS, sessionAt - CATCH_UP_MS);

/**
 * Of a channel's messages, those the gateway may have missed: written after it last heard from the
 * channel (less a margin for clocks) and before the new session began, and not too old to answer.
 * Oldest first, as they would have come. Pure.
 */
export function missedMessages(messages: readonly APIMessage[], heardAt: number, sessionAt: number): APIMessage[] {
  const from = windowStart(heardAt, sessionAt);
  return messages
    .filter((m) => {
      const at = snowflakeTime(m.id);
      return at >= from && at < sessionAt;
    })
    .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
}

/** Where to start reading a channel: its first message that could have been missed. */
export function readFrom(heardAt: number, sessionAt: number): string {
  return snowflakeAt(windowStart(heardAt, sessionAt) - 1);
}

/**
 * Reads every channel heard from and hands each message it may have missed to `route` (which
 * handles its own failures), in order within a channel, page after page. A channel that cannot be
 * read (deleted, access lost) is skipped with `onSkip`.
 */
export async function catchUp(
  rest: REST,
  channels: readonly HeardChannel[],
  sessionAt: number,
  route: (message: APIMessage, channel: HeardChannel) => Promise<void>,
  onSkip: (channel: HeardChannel, err: unknown) => Promise<void>,
): Promise<number> {
  let routed = 0;
  const queue = [...channels];
  const reader = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      try {
        let after = readFrom(c.heardAt, sessionAt);
        for (let pages = 0; pages < MAX_PAGES; pages++) {
          const page = (await rest.get(Routes.channelMessages(c.channelId), { query: new URLSearchParams({ after, limit: '100' }) })) as APIMessage[];
          for (const m of missedMessages(page, c.heardAt, sessionAt)) {
            await route(m, c);
            routed += 1;
          }
          const newest = page.reduce<string | undefined>((top, m) => (top === undefined || BigInt(m.id) > BigInt(top) ? m.id : top), undefined);
          if (page.length < 100 || newest === undefined || snowflakeTime(newest) >= sessionAt) break;
          after = newest;
        }
      } catch (err) {
        await onSkip(c, err).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, reader));
  return routed;
}

/**
 * What changed in a channel while no session existed, by comparing the messages the gateway holds
 * with Discord's latest page of them: held ones missing from the page were deleted (only within the
 * span the page covers, unless it holds all there is, and before the session began), and the page's
 * held ones edited while no session existed may carry new words.
 * Pure.
 */
export function changedWhileAway(held: readonly { id: string }[], latest: readonly APIMessage[], pageSize: number, away: { heardAt: number; sessionAt: number }): { deleted: string[]; edited: APIMessage[] } {
  const { heardAt, sessionAt } = away;
  if (latest.length === 0) return { deleted: [], edited: [] };
  const onDiscord = new Set(latest.map((m) => m.id));
  const oldest = latest.reduce((low, m) => (BigInt(m.id) < low ? BigInt(m.id) : low), BigInt(latest[0]!.id));
  // (Only what was written before the session began: a message the new session brought may be held
  // already and not yet on the page read a moment before.)
  const covered = (id: string) => snowflakeTime(id) < sessionAt && (latest.length < pageSize || BigInt(id) >= oldest);
  const heldIds = new Set(held.map((m) => m.id));
  return {
    deleted: held.filter((m) => covered(m.id) && !onDiscord.has(m.id)).map((m) => m.id),
    // Edited while no session existed: after the gateway last heard the channel (it was alive then,
    // and saw any edit made before it went) and before the new session began. Older edits were seen.
    edited: latest.filter((m) => {
      const at = m.edited_timestamp ? Date.parse(m.edited_timestamp) : Number.NaN;
      return heldIds.has(m.id) && at >= heardAt - CLOCK_MARGIN_MS && at < sessionAt;
    }),
  };
}

// Each channel's recent messages, kept in Redis by the gateway (which sees every message) and by
// workers (which know their own posts first), so a reply's context needs no Discord call.
import type { Redis } from 'ioredis';
import { snowflakeTime, type ChannelMessage } from './messages.ts';
import { redisScript } from './redis-script.ts';

export interface HistoryStore {
  /**
   * Adds or replaces messages, keeping the newest `size`. A persona tag, once known, is kept.
   * `complete`: nothing older exists that chorus has not kept (the gateway learned the channel
   * empty and has seen every message since), so the channel counts as filled in this epoch.
   * `keepHeld`: a message already held stays as it is (a copy read back from Discord lacks what the
   * gateway knew when it saw the message: role names, nicknames).
   */
  add(channelId: string, messages: ChannelMessage[], opts?: { complete?: boolean; keepHeld?: boolean }): Promise<void>;
  /** Sets a message's words; false when it held these already (Discord sends updates for pins and link previews too). */
  edit(channelId: string, id: string, content: string): Promise<boolean>;
  /** Deleted messages: gone from what models read, and remembered a day as withdrawn. */
  remove(channelId: string, ids: string[]): Promise<void>;
  /** The newest `limit` messages, oldest first. */
  recent(channelId: string, limit: number): Promise<ChannelMessage[]>;
  /**
   * `recent` and `isFilled` in one round trip: a reply's context usually needs nothing more. With
   * `asking`, also whether that message was deleted (`withdrawn`): its words are not to be answered.
   */
  read(channelId: string, limit: number, asking?: string): Promise<{ filled: boolean; messages: ChannelMessage[]; withdrawn: boolean }>;
  /** Whether the channel has been filled from Discord since the gateway last (re)started. */
  isFilled(channelId: string): Promise<boolean>;
  markFilled(channelId: string): Promise<void>;
  /** Called by the gateway at start: messages sent while it was away are missing everywhere. */
  newEpoch(): Promise<void>;
  /** The channel is gone: everything kept of it goes too. */
  forget(channelId: string): Promise<void>;
}

/**
 * A channel's history goes this long after its last message (all its keys together, so its places
 * and their counter never disagree); spoken in again, it is read from Discord once, as a channel new
 * to chorus is. Without it every thread and quiet channel ever seen stayed in Redis for good. Shorter
 * than the ledger's memory of persona posts (POST_MEMORY_DAYS), which a read from Discord tags them by.
 */
export const HISTORY_MEMORY_SECONDS = 30 * 24 * 3600;

/** How long a deleted message is remembered, so a turn queued to answer it does not: past any retry. */
const WITHDRAWN_SECONDS = 24 * 3600;

// KEYS: zset, messages hash, personas hash, places hash, place counter, filled flag, epoch,
// deleted ids (a sorted set). ARGV: size, complete (1/0), seconds kept, keep held (1/0), then (score, id, json)
// triples. A message new to the channel gets the next place (seq); the newest `size` stay; a message
// deleted is never added back (a read from Discord made before its deletion arrives after it). A
// complete channel is marked filled in the current epoch. The channel's keys are kept for the given
// seconds from now, together.
const ADD = redisScript(`
local size = tonumber(ARGV[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[6], redis.call('GET', KEYS[7]) or '0') end
for i = 5, #ARGV, 3 do
  if redis.call('ZSCORE', KEYS[8], ARGV[i + 1]) == false then
    if ARGV[4] == '1' then redis.call('HSETNX', KEYS[2], ARGV[i + 1], ARGV[i + 2]) else redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2]) end
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
    if redis.call('HEXISTS', KEYS[4], ARGV[i + 1]) == 0 then
      redis.call('HSET', KEYS[4], ARGV[i + 1], redis.call('INCR', KEYS[5]))
    end
  end
end
local extra = redis.call('ZCARD', KEYS[1]) - size
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('HDEL', KEYS[3], unpack(old))
  redis.call('HDEL', KEYS[4], unpack(old))
end
for k = 1, 6 do redis.call('EXPIRE', KEYS[k], ARGV[3]) end
return 1`);

// KEYS: zset, messages hash, personas hash, filled flag, epoch, places hash, deleted ids. ARGV:
// limit, the id asked about ('' for none). Returns filled (0/1), withdrawn (0/1), then (json,
// persona tag, place) triples, newest first.
const READ = redisScript(`
local filled = redis.call('GET', KEYS[4])
local epoch = redis.call('GET', KEYS[5]) or '0'
local withdrawn = (ARGV[2] ~= '' and redis.call('ZSCORE', KEYS[7], ARGV[2]) ~= false) and 1 or 0
local out = { (filled ~= false and filled == epoch) and 1 or 0, withdrawn }
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return out end
local bodies = redis.call('HMGET', KEYS[2], unpack(ids))
local tags = redis.call('HMGET', KEYS[3], unpack(ids))
local places = redis.call('HMGET', KEYS[6], unpack(ids))
for i = 1, #ids do
  out[#out + 1] = bodies[i] or ''
  out[#out + 1] = tags[i] or ''
  out[#out + 1] = places[i] or ''
end
return out`);

export function createHistoryStore(redis: Redis, prefix: string, size: number): HistoryStore {
  const zkey = (c: string) => `${prefix}:history:${c}`;
  const hkey = (c: string) => `${prefix}:history-messages:${c}`;
  // Which persona sent a message, kept apart so a later copy without the tag cannot erase it.
  const pkey = (c: string) => `${prefix}:history-personas:${c}`;
  const filledKey = (c: string) => `${prefix}:history-filled:${c}`;
  const seqKey = (c: string) => `${prefix}:history-places:${c}`;
  const counterKey = (c: string) => `${prefix}:history-counter:${c}`;
  // Deleted ids by when they were deleted, each forgotten a day after (a set whose TTL every deletion
  // renewed kept them all in a channel with a deletion a day). A sorted set under a new name: the
  // plain sets of earlier versions expire on their own.
  const withdrawnKey = (c: string) => `${prefix}:history-deleted:${c}`;
  const epochKey = `${prefix}:gateway-epoch`;

  async function read(channelId: string, limit: number, asking = ''): Promise<{ filled: boolean; messages: ChannelMessage[]; withdrawn: boolean }> {
    const keys = [zkey(channelId), hkey(channelId), pkey(channelId), filledKey(channelId), epochKey, seqKey(channelId), withdrawnKey(channelId)];
    const [filled, withdrawn, ...triples] = (await READ(redis, keys, [limit, asking])) as [number, number, ...string[]];
    const messages: ChannelMessage[] = [];
    for (let i = 0; i < triples.length; i += 3) {
      const body = triples[i];
      if (!body) continue;
      const [personaId, kind] = (triples[i + 1] ?? '').split(' ');
      const seq = triples[i + 2] ? Number(triples[i + 2]) : undefined;
      const m = { ...(JSON.parse(body) as ChannelMessage), ...(seq === undefined ? {} : { seq }) };
      messages.push(personaId ? { ...m, personaId, ...(kind === 'notice' ? { notice: true } : {}) } : m);
    }
    // Same millisecond: order by id, which Discord makes increase.
    messages.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
    return { filled: filled === 1, messages, withdrawn: withdrawn === 1 };
  }

  return {
    async add(channelId, messages, opts) {
      if (messages.length === 0) return;
      const args = messages.flatMap(({ personaId: _, notice: __, seq: ___, ...m }) => [String(snowflakeTime(m.id)), m.id, JSON.stringify(m)]);
      const tagged = messages.filter((m) => m.personaId).flatMap((m) => [m.id, m.notice ? `${m.personaId!} notice` : m.personaId!]);
      // The tags go first on the one connection, in the same write: ADD finds them set.
      await Promise.all([
        tagged.length ? redis.hset(pkey(channelId), ...tagged) : undefined,
        ADD(redis, [zkey(channelId), hkey(channelId), pkey(channelId), seqKey(channelId), counterKey(channelId), filledKey(channelId), epochKey, withdrawnKey(channelId)], [size, opts?.complete ? 1 : 0, HISTORY_MEMORY_SECONDS, opts?.keepHeld ? 1 : 0, ...args]),
      ]);
    },
    async edit(channelId, id, content) {
      const old = await redis.hget(hkey(channelId), id);
      if (old === null) return true; // not kept (any more): an edit for all chorus knows
      const held = JSON.parse(old) as ChannelMessage;
      if (held.content === content) return false;
      await redis.hset(hkey(channelId), id, JSON.stringify({ ...held, content }));
      return true;
    },
    async remove(channelId, ids) {
      if (ids.length === 0) return;
      const now = Date.now();
      await redis
        .multi()
        .zrem(zkey(channelId), ...ids)
        .hdel(hkey(channelId), ...ids)
        .hdel(pkey(channelId), ...ids)
        .hdel(seqKey(channelId), ...ids)
        .zadd(withdrawnKey(channelId), ...ids.flatMap((id) => [now, id]))
        .zremrangebyscore(withdrawnKey(channelId), '-inf', `(${now - WITHDRAWN_SECONDS * 1000}`)
        .expire(withdrawnKey(channelId), WITHDRAWN_SECONDS)
        .exec();
    },
    recent: async (channelId, limit) => (await read(channelId, limit)).messages,
    read: (channelId, limit, asking) => read(channelId, limit, asking),
    async isFilled(channelId) {
      const [filled, epoch] = await redis.mget(filledKey(channelId), epochKey);
      return filled !== null && filled === (epoch ?? '0');
    },
    async markFilled(channelId) {
      const epoch = (await redis.get(epochKey)) ?? '0';
      await redis.set(filledKey(channelId), epoch, 'EX', HISTORY_MEMORY_SECONDS);
    },
    async newEpoch() {
      await redis.incr(epochKey);
    },
    async forget(channelId) {
      await redis.del(zkey(channelId), hkey(channelId), pkey(channelId), seqKey(channelId), counterKey(channelId), filledKey(channelId), withdrawnKey(channelId));
    },
  };
}

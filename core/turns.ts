// Each channel's replies, in order. Routing appends turns to the channel's list in Redis; one
// BullMQ "drain" job per busy channel answers them one after another, so replies in a channel
// never interleave while different channels proceed in parallel on any number of workers.
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ChannelMessage } from './messages.ts';
import type { Trigger } from './route.ts';

export const REPLY_QUEUE = 'replies';

export interface Turn {
  /** Bumped when the shape changes, so old workers refuse new turns loudly. */
  v: 2;
  guildId?: string;
  channelId: string;
  /** For threads: the parent channel, whose settings and webhooks they share. */
  parentId?: string;
  personaId: string;
  reason: Trigger;
  /** Chain depth of the post this turn makes. */
  depth: number;
  /** The message being answered, as seen when it was routed. */
  trigger: ChannelMessage;
  /** When the message reached chorus (ms since epoch), for latency figures. */
  receivedAt: number;
}

/** A channel to drain, with where its settings come from (every turn of a channel shares these). */
export interface DrainJob {
  channelId: string;
  guildId?: string;
  parentId?: string;
}

function drainOf(turn: Turn): DrainJob {
  return { channelId: turn.channelId, ...(turn.guildId ? { guildId: turn.guildId } : {}), ...(turn.parentId ? { parentId: turn.parentId } : {}) };
}

export function createDrainQueue(connection: ConnectionOptions, prefix: string): Queue<DrainJob> {
  return new Queue<DrainJob>(REPLY_QUEUE, { connection, prefix });
}

export function turnKey(turn: Pick<Turn, 'trigger' | 'personaId'>): string {
  return `${turn.trigger.id}-${turn.personaId}`;
}

// KEYS: list, flag, sequence, seen-key per turn. ARGV: job id prefix, seen ttl, turn JSON per turn.
// Appends turns not seen before; if no drain is scheduled for the channel, claims the flag with a
// fresh job id (ids of finished jobs are kept a while, and BullMQ ignores a re-used one).
const APPEND = `
local appended = 0
for i = 4, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('RPUSH', KEYS[1], ARGV[i - 1])
    appended = appended + 1
  end
end
if appended > 0 and redis.call('EXISTS', KEYS[2]) == 0 then
  local id = ARGV[1] .. redis.call('INCR', KEYS[3])
  redis.call('SET', KEYS[2], id)
  return {appended, id}
end
return {appended, false}`;

// KEYS: list, flag. Ends a drain only if nothing is left; otherwise the drain goes on.
const FINISH = `
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 1 end
return 0`;

// KEYS: list. ARGV: the turn just answered. Pops it only if it is still the head.
const POP = `
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) return 1 end
return 0`;

export interface TurnStore {
  /** Appends turns in order (duplicates of a (message, persona) are dropped); schedules a drain if none is. */
  append(turns: Turn[]): Promise<number>;
  head(channelId: string): Promise<{ raw: string; turn: Turn } | undefined>;
  pop(channelId: string, raw: string): Promise<void>;
  /** True when the channel has no turns left and its drain may end. */
  finish(channelId: string): Promise<boolean>;
  /** Re-schedules drains lost to a crash between appending and scheduling. */
  recover(): Promise<number>;
  pending(channelId: string): Promise<number>;
}

export function createTurnStore(redis: Redis, queue: Queue<DrainJob>, prefix: string, seenTtlSeconds: number): TurnStore {
  const listKey = (channelId: string) => `${prefix}:turns:${channelId}`;
  const flagKey = (channelId: string) => `${prefix}:drain:${channelId}`;
  const sequenceKey = `${prefix}:drain-sequence`;
  const seenKey = (turn: Turn) => `${prefix}:turn-seen:${turnKey(turn)}`;
  const schedule = async (drain: DrainJob, jobId: string) => {
    await queue.add('drain', drain, { jobId, attempts: 1000, backoff: { type: 'turn' }, removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 7 * 24 * 3600 } });
  };

  return {
    async append(turns) {
      const byChannel = Map.groupBy(turns, (t) => t.channelId);
      let appended = 0;
      for (const [channelId, list] of byChannel) {
        const [count, jobId] = (await redis.eval(
          APPEND,
          3 + list.length,
          listKey(channelId),
          flagKey(channelId),
          sequenceKey,
          ...list.map(seenKey),
          `drain-${channelId}-`,
          String(seenTtlSeconds),
          ...list.map((t) => JSON.stringify(t)),
        )) as [number, string | null];
        appended += count;
        if (jobId) await schedule(drainOf(list[0]!), jobId);
      }
      return appended;
    },
    async head(channelId) {
      const raw = await redis.lindex(listKey(channelId), 0);
      return raw === null ? undefined : { raw, turn: JSON.parse(raw) as Turn };
    },
    async pop(channelId, raw) {
      await redis.eval(POP, 1, listKey(channelId), raw);
    },
    async finish(channelId) {
      return (await redis.eval(FINISH, 2, listKey(channelId), flagKey(channelId))) === 1;
    },
    async recover() {
      let recovered = 0;
      for (const key of await scanKeys(redis, `${prefix}:turns:*`)) {
        const channelId = key.slice(`${prefix}:turns:`.length);
        const head = await redis.lindex(key, 0);
        if (head === null) continue;
        const jobId = await redis.get(flagKey(channelId));
        const job = jobId ? await queue.getJob(jobId) : undefined;
        const state = job ? await job.getState() : undefined;
        if (state && state !== 'completed' && state !== 'failed') continue;
        const fresh = `drain-${channelId}-${await redis.incr(sequenceKey)}`;
        await redis.set(flagKey(channelId), fresh);
        await schedule(drainOf(JSON.parse(head) as Turn), fresh);
        recovered += 1;
      }
      return recovered;
    },
    pending: (channelId) => redis.llen(listKey(channelId)),
  };
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

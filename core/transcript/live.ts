// Which channels have a live session: an interview thread, or a channel being recorded. Kept in
// Redis so the gateway learns it with one read per message; the record store stays the truth.
import type { Redis } from 'ioredis';
import type { ChangeFeed } from '../changes.ts';

export interface LiveSession {
  sessionId: string;
  kind: 'interview' | 'channel';
  /** For interviews with a human interviewer: the person whose messages become questions. */
  interviewerId?: string;
}

export interface LiveSessions {
  of(channelId: string): Promise<LiveSession | undefined>;
  /** The recording the channel is in (a recorded channel's session id), if it is recorded. */
  recording(channelId: string): Promise<string | undefined>;
  set(channelId: string, live: LiveSession): Promise<void>;
  clear(channelId: string): Promise<void>;
}

/** With a change feed, every change is announced, and `cached` stores answer from memory until one is. */
export function createLiveSessions(redis: Redis, prefix: string, feed?: ChangeFeed, cached = false): LiveSessions {
  const key = (channelId: string) => `${prefix}:live-session:${channelId}`;
  const read = async (channelId: string) => {
    const raw = await redis.get(key(channelId));
    return raw === null ? undefined : (JSON.parse(raw) as LiveSession);
  };
  const cache = cached && feed ? feed.cache<LiveSession | undefined>('live-sessions') : undefined;
  const of = (channelId: string) => (cache ? cache.get(channelId, () => read(channelId)) : read(channelId));
  return {
    of,
    async recording(channelId) {
      const live = await of(channelId);
      return live?.kind === 'channel' ? live.sessionId : undefined;
    },
    async set(channelId, live) {
      await redis.set(key(channelId), JSON.stringify(live));
      cache?.drop();
      await feed?.changed('live-sessions');
    },
    async clear(channelId) {
      await redis.del(key(channelId));
      cache?.drop();
      await feed?.changed('live-sessions');
    },
  };
}

// Which channels have a live session: an interview thread, or a channel being recorded. Kept in
// Redis so the gateway learns it with one read per message; the record store stays the truth.
import type { Redis } from 'ioredis';

export interface LiveSession {
  sessionId: string;
  kind: 'interview' | 'channel';
  /** For interviews with a human interviewer: the person whose messages become questions. */
  interviewerId?: string;
}

export interface LiveSessions {
  of(channelId: string): Promise<LiveSession | undefined>;
  set(channelId: string, live: LiveSession): Promise<void>;
  clear(channelId: string): Promise<void>;
}

export function createLiveSessions(redis: Redis, prefix: string): LiveSessions {
  const key = (channelId: string) => `${prefix}:live-session:${channelId}`;
  return {
    async of(channelId) {
      const raw = await redis.get(key(channelId));
      return raw === null ? undefined : (JSON.parse(raw) as LiveSession);
    },
    async set(channelId, live) {
      await redis.set(key(channelId), JSON.stringify(live));
    },
    async clear(channelId) {
      await redis.del(key(channelId));
    },
  };
}

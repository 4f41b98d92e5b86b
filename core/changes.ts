// Settings and live sessions change rarely and are read on every message: the gateway keeps them in
// memory and drops its copies when any process says they changed (Redis pub/sub). A copy is kept only
// while the subscription is known to be live, is read again after a reconnect (messages sent while
// disconnected are lost), and never outlives a few seconds, whatever happens.
import type { Redis } from 'ioredis';

export interface ChangeFeed {
  /** Tells every process that something under `topic` changed. */
  changed(topic: string): Promise<void>;
  /** A cache of values under `topic`, dropped on every change. */
  cache<V>(topic: string, ttlMs?: number): ReadThroughCache<V>;
  close(): Promise<void>;
}

export interface ReadThroughCache<V> {
  get(key: string, read: () => Promise<V>): Promise<V>;
  /** Drops every copy now (this process's own change: it must not wait for the message). */
  drop(): void;
  /** How many copies it holds (fresh or not yet swept). */
  size(): number;
}

export function createChangeFeed(redis: Redis, prefix: string): ChangeFeed {
  const channel = `${prefix}:changed`;
  let subscriber: Redis | undefined;
  let live = false;
  const listeners = new Map<string, Set<() => void>>();
  const dropAll = () => {
    for (const set of listeners.values()) for (const drop of set) drop();
  };

  function subscribe(): void {
    if (subscriber) return;
    subscriber = redis.duplicate();
    subscriber.on('message', (_channel: string, topic: string) => {
      for (const drop of listeners.get(topic) ?? []) drop();
    });
    // Any break in the subscription may have lost messages: nothing cached before it is trusted.
    subscriber.on('close', () => {
      live = false;
      dropAll();
    });
    subscriber.on('ready', () => {
      void subscriber!.subscribe(channel).then(() => {
        dropAll();
        live = true;
      });
    });
  }

  return {
    async changed(topic) {
      await redis.publish(channel, topic);
    },
    cache<V>(topic: string, ttlMs = 5_000): ReadThroughCache<V> {
      subscribe();
      const values = new Map<string, { value: V; at: number }>();
      let generation = 0;
      // Stale entries are swept once a period, so a place read once is not kept for good.
      let sweptAt = Date.now();
      const sweep = (now: number) => {
        sweptAt = now;
        for (const [key, entry] of values) if (now - entry.at >= ttlMs) values.delete(key);
      };
      const drop = () => {
        generation += 1;
        values.clear();
      };
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, (set = new Set()));
      set.add(drop);
      return {
        async get(key, read) {
          const hit = values.get(key);
          if (hit && Date.now() - hit.at < ttlMs) return hit.value;
          const started = generation;
          const value = await read();
          // Kept only if nothing changed meanwhile and changes are being heard.
          const now = Date.now();
          if (live && generation === started) values.set(key, { value, at: now });
          if (now - sweptAt >= ttlMs) sweep(now);
          return value;
        },
        drop,
        size: () => values.size,
      };
    },
    async close() {
      subscriber?.disconnect();
    },
  };
}

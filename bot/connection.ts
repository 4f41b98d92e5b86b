// The gateway connection: @discordjs/ws shards whose sessions live in Redis, so a gateway that
// restarts (a deploy, a crash, a reboot) resumes and Discord replays what it missed; a fresh
// IDENTIFY happens only when the session is gone. One process holds each shard at a time (a lease
// in Redis), so a second gateway for the same shard waits instead of routing every message twice.
import type { REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents, type SessionInfo } from '@discordjs/ws';
import { GatewayIntentBits, type GatewayDispatchPayload } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/log.ts';

export const INTENTS = GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages | GatewayIntentBits.MessageContent;

/** Close codes after which connecting again cannot help, and what the person running chorus should do. */
export const FATAL_CLOSE_CODES: Record<number, string> = {
  4004: 'Discord refused the bot token (close code 4004, authentication failed): DISCORD_TOKEN is wrong or was reset. Copy the token from the developer portal (Bot → Reset Token) into DISCORD_TOKEN.',
  4010: 'Discord refused the shard (close code 4010, invalid shard): SHARD_IDS must be below SHARD_COUNT.',
  4011: 'Discord requires sharding for this bot (close code 4011): set SHARD_COUNT (or leave it at auto) and run the shards.',
  4012: 'Discord refused the gateway version (close code 4012): update chorus.',
  4013: 'Discord refused the intents chorus asked for (close code 4013, invalid intents): update chorus.',
  4014: 'Discord refused the Message Content intent (close code 4014, disallowed intents): in the Discord developer portal, open your application, then Bot → Privileged Gateway Intents, turn on "Message Content Intent", save, and restart chorus.',
};

export interface ShardEvent {
  shardId: number;
  /** The dispatch's sequence number. */
  seq: number;
  payload: GatewayDispatchPayload;
}

export interface ConnectionOptions {
  token: string;
  rest: REST;
  redis: Redis;
  prefix: string;
  /** Total shards, or null for Discord's recommendation. */
  shardCount: number | null;
  /** Shards this process runs, or null for all of them. */
  shardIds: number[] | null;
  /** How long log-in may take before chorus says so. */
  readyTimeoutMs: number;
  /** How long a shard lease lasts without renewal (the time a crashed gateway holds up its successor). */
  leaseMs: number;
  log: Logger;
  /** Handles one event; the session's saved position moves past it only once this settles. */
  onDispatch(event: ShardEvent): Promise<void>;
  /** The connection cannot go on (a fatal close code, a lost shard lease): stop, saying why. */
  onFatal(message: string): void;
  /** Aborted when the process stops before the connection is made (e.g. while waiting for a lease). */
  signal?: AbortSignal;
}

export interface GatewayConnection {
  manager: WebSocketManager;
  shardIds: number[];
  shardCount: number;
  /** Resolves once every shard is ready or resumed. */
  ready: Promise<void>;
  /** Closes every shard keeping its session resumable, saves where it stopped, lets the shards go. */
  close(): Promise<void>;
}

/** How often saved sessions catch up with the events handled. */
const SAVE_EVERY_MS = 250;
/**
 * Events in hand beyond which chorus stops reading from Discord for a moment (and below which it
 * reads again): a burst then waits in the network's buffers, not in this process's memory.
 */
const PAUSE_AT = 100;
const RESUME_AT = 20;

// KEYS: lease. ARGV: owner, ms. Renews the lease only if this process still holds it.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export async function connectGateway(o: ConnectionOptions): Promise<GatewayConnection> {
  const owner = randomBytes(8).toString('hex');
  const leaseKey = (shard: number) => `${o.prefix}:gateway-lease:${shard}`;
  const sessionKey = (shard: number) => `${o.prefix}:gateway-session:${shard}`;

  // Sessions: the live copy in memory (@discordjs/ws reads it before every event), saved to Redis at
  // the position of the last event fully handled, so a crash replays what was in hand.
  const sessions = new Map<number, SessionInfo | null>();
  const inFlight = new Map<number, Set<number>>();
  const pendingOf = (shard: number) => {
    let pending = inFlight.get(shard);
    if (!pending) inFlight.set(shard, (pending = new Set()));
    return pending;
  };
  let stopping = false;
  const savedPosition = (shard: number): SessionInfo | null => {
    const session = sessions.get(shard);
    if (!session) return null;
    const pending = inFlight.get(shard);
    const lowest = pending?.size ? Math.min(...pending) : undefined;
    return lowest === undefined ? session : { ...session, sequence: Math.min(session.sequence, lowest - 1) };
  };
  const save = async (shard: number) => {
    const position = savedPosition(shard);
    if (position) await o.redis.set(sessionKey(shard), JSON.stringify(position), 'PX', 24 * 3600_000);
  };
  const dirty = new Set<number>();
  const saver = setInterval(() => {
    for (const shard of dirty) void save(shard).catch((err: Error) => o.log.warn({ shard, err: err.message }, 'could not save the gateway session'));
    dirty.clear();
  }, SAVE_EVERY_MS);

  const manager = new WebSocketManager({
    token: o.token,
    intents: INTENTS,
    rest: o.rest,
    shardCount: o.shardCount,
    shardIds: o.shardIds,
    compression: null,
    async retrieveSessionInfo(shard) {
      if (!sessions.has(shard)) {
        const raw = await o.redis.get(sessionKey(shard));
        sessions.set(shard, raw ? (JSON.parse(raw) as SessionInfo) : null);
      }
      return sessions.get(shard) ?? null;
    },
    async updateSessionInfo(shard, info) {
      // On the way out the session is kept for the successor, whatever the library does.
      if (stopping && info === null) return;
      const fresh = info !== null && info.sessionId !== sessions.get(shard)?.sessionId;
      sessions.set(shard, info);
      // The event at this position is about to be handled: it counts as in hand from now on.
      if (info !== null && !fresh) pendingOf(shard).add(info.sequence);
      if (info === null) await o.redis.del(sessionKey(shard));
      else if (fresh) await save(shard);
      else dirty.add(shard);
    },
  });

  const shardCount = o.shardCount ?? (await manager.getShardCount());
  const shardIds = o.shardIds ?? Array.from({ length: shardCount }, (_, i) => i);

  // One process per shard: wait for a predecessor's lease (a rolling deploy, or a crash's lease running out).
  for (const shard of shardIds) {
    let told = false;
    while (!(await o.redis.set(leaseKey(shard), owner, 'PX', o.leaseMs, 'NX'))) {
      if (o.signal?.aborted) {
        clearInterval(saver);
        for (const held of shardIds) await o.redis.eval(RELEASE, 1, leaseKey(held), owner);
        throw new Error('stopped while waiting for a shard');
      }
      if (!told) o.log.warn({ shard }, 'another gateway holds this shard; waiting for it to stop');
      told = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const renewer = setInterval(() => {
    for (const shard of shardIds) {
      void o.redis.eval(RENEW, 1, leaseKey(shard), owner, String(o.leaseMs)).then(
        (kept) => kept === 0 && !stopping && o.onFatal(`another gateway took over shard ${shard}; this one stops so no message is routed twice`),
        (err: Error) => o.log.warn({ shard, err: err.message }, 'could not renew the shard lease'),
      );
    }
  }, o.leaseMs / 3);

  const handling = new Set<Promise<void>>();
  // The shards' sockets (`ws`), reached through @discordjs/ws's strategy: it has no API for reading
  // less. Without them (another strategy), chorus reads as fast as Discord sends.
  const sockets = () =>
    [...((manager as unknown as { strategy?: { shards?: Map<number, { connection?: { pause?(): void; resume?(): void } | null }> } }).strategy?.shards?.values() ?? [])].flatMap((s) => (s.connection ? [s.connection] : []));
  let paused = false;
  manager.on(WebSocketShardEvents.Dispatch, ({ data, shardId }) => {
    const seq = data.s;
    const pending = pendingOf(shardId);
    pending.add(seq);
    // Stopping: the event stays "in hand" for ever, so the saved position stops before it and the
    // successor has it replayed.
    if (stopping) return;
    const handled = o.onDispatch({ shardId, seq, payload: data }).finally(() => {
      pending.delete(seq);
      dirty.add(shardId);
      handling.delete(handled);
      if (paused && handling.size <= RESUME_AT) {
        paused = false;
        for (const socket of sockets()) socket.resume?.();
      }
    });
    handling.add(handled);
    if (!paused && handling.size >= PAUSE_AT) {
      paused = true;
      for (const socket of sockets()) socket.pause?.();
    }
  });
  manager.on(WebSocketShardEvents.Closed, ({ code, shardId }) => {
    const fatal = FATAL_CLOSE_CODES[code];
    if (fatal && !stopping) o.onFatal(fatal);
    else if (!stopping) o.log.info({ shardId, code }, 'gateway connection closed; reconnecting');
  });
  manager.on(WebSocketShardEvents.Ready, ({ shardId }) => o.log.info({ shardId }, 'gateway session identified'));
  manager.on(WebSocketShardEvents.Resumed, ({ shardId }) => o.log.info({ shardId }, 'gateway session resumed; missed events replayed'));
  manager.on(WebSocketShardEvents.Error, ({ error, shardId }) => o.log.warn({ shardId, err: error.message }, 'gateway connection error'));

  // Log-in that never completes is said out loud, once; the library keeps trying meanwhile.
  const slow = setTimeout(
    () => o.log.error(`Discord did not complete log-in within ${Math.round(o.readyTimeoutMs / 1000)} s (no READY or RESUMED). Check that Discord is reachable (DISCORD_API_URL) and https://discordstatus.com; chorus keeps trying.`),
    o.readyTimeoutMs,
  );
  const ready = manager.connect().finally(() => clearTimeout(slow));

  return {
    manager,
    shardIds,
    shardCount,
    ready,
    async close() {
      stopping = true;
      clearTimeout(slow);
      await Promise.allSettled([...handling]);
      clearInterval(renewer);
      clearInterval(saver);
      // 4200 keeps the session resumable on Discord's side; the position saved is that of the last
      // event fully handled (the caller lets handlers finish first).
      await Promise.resolve(manager.destroy({ code: 4200, reason: 'chorus gateway stopping' })).catch(() => undefined);
      for (const shard of shardIds) await save(shard).catch(() => undefined);
      for (const shard of shardIds) await o.redis.eval(RELEASE, 1, leaseKey(shard), owner).catch(() => undefined);
    },
  };
}

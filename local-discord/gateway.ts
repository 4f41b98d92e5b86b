// Gateway (v10, JSON, uncompressed) of the Discord stand-in: HELLO, IDENTIFY with Discord's close
// codes, sharded READY, RESUME with replay, and test hooks to cut, reconnect and invalidate.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { applicationFlags } from './application.ts';
import { Intents } from './core.ts';
import type { Core } from './core.ts';
import { wireGuild } from './guilds.ts';
import { wireUser } from './model.ts';
import { createSessions, shardOf } from './sessions.ts';
import type { GatewayStats, Session } from './sessions.ts';

export type { GatewayStats } from './sessions.ts';

/** Every intent bit Discord defines: 0–16, 20, 21, 24, 25 (developers/events/gateway#list-of-intents). */
const KNOWN_INTENTS = 0x1ffffn | (1n << 20n) | (1n << 21n) | (1n << 24n) | (1n << 25n);

export interface GatewayOptions {
  heartbeatIntervalMs: number;
  resumeWindowMs: number;
  /** Close 4011 when a shard would hold more guilds than this (Discord: 2,500). */
  maxGuildsPerShard?: number;
  withholdReady: boolean;
}

export interface Gateway {
  url: string;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  whenIdentified(): Promise<void>;
  requestReconnect(): void;
  dropConnections(code?: number): void;
  invalidateSessions(): void;
  withholdReady(on: boolean): void;
  stats(): GatewayStats;
  /** Session starts used in the current 24 h window, for GET /gateway/bot. */
  sessionStartLimit(): { total: number; remaining: number; reset_after: number; max_concurrency: number };
  close(): void;
}

type Frame = { op?: unknown; d?: unknown };

export function createGateway(core: Core, base: string, opts: GatewayOptions): Gateway {
  const wss = new WebSocketServer({ noServer: true });
  const { sessions, send, dispatch, acknowledge, resumable } = createSessions(core, opts.resumeWindowMs);
  const sockets = new Set<WebSocket>();
  /** Sockets the server closed itself: their close code says nothing about the client's intent. */
  const closedByServer = new WeakSet<WebSocket>();
  /** Identified while READY was withheld. */
  const awaitingReady = new WeakSet<WebSocket>();
  const stats = { identifies: 0, resumes: 0, resumed: 0, invalidSessions: 0 };
  const starts = { used: 0, windowStart: 0 };
  let withholdReady = opts.withholdReady;
  let identifiedWaiters: (() => void)[] = [];
  const url = `${base}/gateway`;
  core.dispatch = dispatch;

  const frame = (op: number, d: unknown) => JSON.stringify({ op, d, s: null, t: null });
  const refuse = (ws: WebSocket, code: number, reason: string) => {
    closedByServer.add(ws);
    ws.close(code, reason);
  };
  const invalidSession = (ws: WebSocket) => {
    stats.invalidSessions += 1;
    ws.send(frame(9, false));
  };

  function identify(ws: WebSocket, d: Record<string, unknown>): Session | null {
    stats.identifies += 1;
    if (d.token !== core.token && d.token !== `Bot ${core.token}`) return void refuse(ws, 4004, 'Authentication failed'), null;
    const intents = d.intents;
    if (typeof intents !== 'number' || !Number.isSafeInteger(intents) || intents < 0 || (BigInt(intents) & ~KNOWN_INTENTS) !== 0n) {
      return void refuse(ws, 4013, 'Invalid intent(s)'), null;
    }
    const privileged = [
      [Intents.MessageContent, core.privileged.messageContent],
      [Intents.GuildMembers, core.privileged.guildMembers],
      [Intents.GuildPresences, core.privileged.presences],
    ] as const;
    if (privileged.some(([bit, enabled]) => (intents & bit) !== 0 && !enabled)) return void refuse(ws, 4014, 'Disallowed intent(s)'), null;
    const shard = d.shard ?? [0, 1];
    const [shardId, numShards] = Array.isArray(shard) ? (shard as unknown[]) : [];
    if (shard === null || typeof shardId !== 'number' || typeof numShards !== 'number' || !Number.isInteger(shardId) || !Number.isInteger(numShards)
      || numShards < 1 || shardId < 0 || shardId >= numShards) {
      return void refuse(ws, 4010, 'Invalid shard'), null;
    }
    const guilds = [...core.guilds.values()].filter((g) => shardOf(g.id, numShards) === shardId);
    if (opts.maxGuildsPerShard !== undefined && guilds.length > opts.maxGuildsPerShard) return void refuse(ws, 4011, 'Sharding required'), null;
    const now = Date.now();
    if (now - starts.windowStart >= 86_400_000) Object.assign(starts, { used: 0, windowStart: now });
    starts.used += 1;
    // A test can keep READY back to exercise a client's READY timeout; no session exists then.
    if (withholdReady) return void awaitingReady.add(ws), null;
    const session: Session = { id: randomBytes(16).toString('hex'), intents, shard: [shardId, numShards], seq: 0, log: [], socket: ws, closedAt: null };
    sessions.set(session.id, session);
    send(session, 'READY', {
      v: 10,
      user: { ...wireUser(core.botUser), bot: true, verified: true, mfa_enabled: false },
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: url,
      shard: [shardId, numShards],
      application: { id: core.applicationId, flags: applicationFlags(core) },
      private_channels: [],
      presences: [],
      relationships: [],
      guild_join_requests: [],
      user_settings: {},
      geo_ordered_rtc_regions: [],
      auth: {},
      _trace: ['["stand-in",{}]'],
    });
    for (const g of guilds) send(session, 'GUILD_CREATE', wireGuild(core, g));
    for (const w of identifiedWaiters) w();
    identifiedWaiters = [];
    return session;
  }

  function resume(ws: WebSocket, d: Record<string, unknown>): Session | null {
    stats.resumes += 1;
    const old = resumable(d.session_id);
    if (!old || (d.token !== core.token && d.token !== `Bot ${core.token}`) || typeof d.seq !== 'number') {
      // op 9 with d:false: the session cannot be resumed; the client identifies afresh.
      invalidSession(ws);
      return null;
    }
    // A sequence the session never reached: Discord closes with 4007 Invalid seq.
    if (d.seq < 0 || d.seq > old.seq) return void refuse(ws, 4007, 'Invalid seq'), null;
    if (old.socket && old.socket !== ws) {
      closedByServer.add(old.socket);
      old.socket.terminate();
    }
    old.socket = ws;
    old.closedAt = null;
    const seq = d.seq;
    for (const e of old.log) if (e.s > seq) ws.send(JSON.stringify({ op: 0, ...e }));
    send(old, 'RESUMED', {});
    stats.resumed += 1;
    return old;
  }

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    sockets.add(ws);
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    if (params.get('encoding') && params.get('encoding') !== 'json') return refuse(ws, 4002, 'Only encoding=json is supported by the stand-in');
    if (params.get('compress')) return refuse(ws, 4002, 'Transport compression is not supported by the stand-in');
    let session: Session | null = null;
    const current = () => (session && session.socket === ws && sessions.has(session.id) ? session : null);
    ws.send(frame(10, { heartbeat_interval: opts.heartbeatIntervalMs }));

    ws.on('message', (raw, isBinary) => {
      let payload: Frame;
      try {
        if (isBinary) throw new Error('binary');
        payload = JSON.parse(String(raw)) as Frame;
      } catch {
        return refuse(ws, 4002, 'Decode error');
      }
      const d = (payload.d && typeof payload.d === 'object' ? payload.d : {}) as Record<string, unknown>;
      switch (payload.op) {
        case 1: {
          const s = current();
          if (s) acknowledge(s, payload.d);
          ws.send(frame(11, null));
          return;
        }
        case 2:
          if (current() || awaitingReady.has(ws)) return refuse(ws, 4005, 'Already authenticated');
          session = identify(ws, d);
          return;
        case 6:
          session = resume(ws, d);
          return;
        case 3: // presence update
        case 4: // voice state update
        case 8: // request guild members
          if (!current()) refuse(ws, 4003, 'Not authenticated');
          return;
        default:
          refuse(ws, 4001, 'Unknown opcode');
      }
    });
    ws.on('close', (code) => {
      sockets.delete(ws);
      if (!session || session.socket !== ws) return;
      session.socket = null;
      session.closedAt = Date.now();
      // A client closing with 1000/1001 ends its session; any other code (or none) keeps it resumable.
      if (!closedByServer.has(ws) && (code === 1000 || code === 1001)) sessions.delete(session.id);
    });
  }

  wss.on('connection', onConnection);

  return {
    url,
    handleUpgrade(req, socket, head) {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/gateway') return void socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    whenIdentified() {
      if ([...sessions.values()].some((s) => s.socket)) return Promise.resolve();
      return new Promise<void>((resolve) => identifiedWaiters.push(resolve));
    },
    requestReconnect() {
      for (const ws of sockets) ws.send(frame(7, null));
    },
    dropConnections(code) {
      for (const ws of sockets) {
        closedByServer.add(ws);
        // No code: the TCP connection just ends (the client sees 1006), as a network cut looks.
        if (code === undefined || code === 1005 || code === 1006) ws.terminate();
        else ws.close(code, 'stand-in: connection dropped');
      }
    },
    invalidateSessions() {
      for (const s of sessions.values()) if (s.socket) invalidSession(s.socket);
      sessions.clear();
    },
    withholdReady(on) {
      withholdReady = on;
    },
    stats: () => ({ ...stats, connections: sockets.size, sessions: sessions.size, lastSeq: [...sessions.values()].at(-1)?.seq ?? 0 }),
    sessionStartLimit() {
      const now = Date.now();
      const active = now - starts.windowStart < 86_400_000;
      const used = active ? starts.used : 0;
      return { total: 1000, remaining: Math.max(0, 1000 - used), reset_after: active && used ? starts.windowStart + 86_400_000 - now : 0, max_concurrency: 1 };
    },
    close() {
      for (const ws of sockets) ws.terminate();
      sockets.clear();
      wss.close();
    },
  };
}

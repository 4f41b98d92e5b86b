// Gateway (v10, JSON, uncompressed) of the Discord stand-in.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { Intents, wireGuild } from './core.ts';
import type { Core, DispatchOptions } from './core.ts';
import { wireUser } from './model.ts';

interface Session {
  id: string;
  intents: number;
  seq: number;
  /** Sent dispatches, replayed on RESUME. */
  log: { s: number; t: string; d: Record<string, unknown> }[];
  socket: WebSocket | null;
}

export interface Gateway {
  url: string;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  whenIdentified(): Promise<void>;
  /** Test hook: Discord's op 7 RECONNECT to every connection. */
  requestReconnect(): void;
  close(): void;
}

export function createGateway(core: Core, base: string, heartbeatInterval: number): Gateway {
  const wss = new WebSocketServer({ noServer: true });
  const sessions = new Map<string, Session>();
  const sockets = new Set<WebSocket>();
  let identifiedWaiters: (() => void)[] = [];
  const url = `${base}/gateway`;

  const liveSessions = () => [...sessions.values()].filter((s) => s.socket);

  function send(session: Session, t: string, d: Record<string, unknown>): void {
    session.seq += 1;
    const frame = { op: 0, t, s: session.seq, d };
    session.log.push({ s: session.seq, t, d });
    session.socket?.send(JSON.stringify(frame));
  }

  core.dispatch = (t: string, d: Record<string, unknown>, opts?: DispatchOptions) => {
    for (const session of sessions.values()) {
      if (opts?.intent && (session.intents & opts.intent) === 0) continue;
      let payload = d;
      const msg = opts?.message;
      // Without MESSAGE_CONTENT, content is withheld unless the bot wrote the message or is mentioned.
      if (msg && (session.intents & Intents.MessageContent) === 0 && msg.author.id !== core.botUser.id
        && !msg.mentions.some((u) => u.id === core.botUser.id)) {
        payload = { ...d, content: '', embeds: [], attachments: [], components: [] };
      }
      // Disconnected sessions still log events so RESUME can replay them.
      send(session, t, payload);
    }
  };

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    sockets.add(ws);
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    if (params.get('encoding') && params.get('encoding') !== 'json') {
      ws.close(4002, 'Only encoding=json is supported by the stand-in');
      return;
    }
    if (params.get('compress')) {
      ws.close(4002, 'Transport compression is not supported by the stand-in');
      return;
    }
    let session: Session | null = null;
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: heartbeatInterval }, s: null, t: null }));

    ws.on('message', (raw, isBinary) => {
      let payload: { op?: number; d?: unknown };
      try {
        if (isBinary) throw new Error('binary');
        payload = JSON.parse(String(raw)) as { op?: number; d?: unknown };
      } catch {
        ws.close(4002, 'Decode error');
        return;
      }
      const d = (payload.d ?? {}) as Record<string, unknown>;
      switch (payload.op) {
        case 1:
          ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
          return;
        case 2: {
          if (session) return void ws.close(4005, 'Already authenticated');
          if (d.token !== core.token && d.token !== `Bot ${core.token}`) return void ws.close(4004, 'Authentication failed');
          if (typeof d.intents !== 'number') return void ws.close(4013, 'Invalid intent(s)');
          session = { id: randomBytes(16).toString('hex'), intents: d.intents, seq: 0, log: [], socket: ws };
          sessions.set(session.id, session);
          send(session, 'READY', {
            v: 10,
            user: { ...wireUser(core.botUser), bot: true, verified: true, mfa_enabled: false },
            guilds: [{ id: core.guildId, unavailable: true }],
            session_id: session.id,
            session_type: 'normal',
            resume_gateway_url: url,
            shard: Array.isArray(d.shard) ? d.shard : [0, 1],
            application: { id: core.applicationId, flags: 0 },
            private_channels: [],
            presences: [],
            relationships: [],
            guild_join_requests: [],
            user_settings: {},
            geo_ordered_rtc_regions: [],
            auth: {},
            _trace: ['["stand-in",{}]'],
          });
          send(session, 'GUILD_CREATE', wireGuild(core));
          for (const w of identifiedWaiters) w();
          identifiedWaiters = [];
          return;
        }
        case 6: {
          const old = typeof d.session_id === 'string' ? sessions.get(d.session_id) : undefined;
          if (!old || d.token !== core.token || typeof d.seq !== 'number') {
            // op 9 with d:false tells the client to identify afresh.
            ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
            return;
          }
          if (old.socket && old.socket !== ws) old.socket.terminate();
          old.socket = ws;
          session = old;
          for (const e of old.log.filter((e) => e.s > (d.seq as number))) ws.send(JSON.stringify({ op: 0, ...e }));
          send(old, 'RESUMED', {});
          return;
        }
        case 3: // presence update
        case 4: // voice state update
        case 8: // request guild members
          if (!session) ws.close(4003, 'Not authenticated');
          return;
        default:
          ws.close(4001, 'Unknown opcode');
      }
    });
    ws.on('close', (code) => {
      sockets.delete(ws);
      if (session && session.socket === ws) session.socket = null;
      // A client closing with 1000/1001 ends its session; other codes keep it resumable.
      if (session && (code === 1000 || code === 1001)) sessions.delete(session.id);
    });
  }

  wss.on('connection', onConnection);

  return {
    url,
    handleUpgrade(req, socket, head) {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/gateway') {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    whenIdentified() {
      if (liveSessions().length > 0) return Promise.resolve();
      return new Promise<void>((resolve) => identifiedWaiters.push(resolve));
    },
    requestReconnect() {
      for (const ws of sockets) ws.send(JSON.stringify({ op: 7, d: null, s: null, t: null }));
    },
    close() {
      for (const ws of sockets) ws.terminate();
      sockets.clear();
      wss.close();
    },
  };
}

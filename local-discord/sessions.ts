// Gateway sessions of the stand-in: shard routing of dispatches, the replay log and resumability.
import type { WebSocket } from 'ws';
import { Intents } from './core.ts';
import type { Core, DispatchOptions } from './core.ts';

export interface Session {
  id: string;
  intents: number;
  /** [shard_id, num_shards] from IDENTIFY. */
  shard: [number, number];
  seq: number;
  /** Dispatches not yet acknowledged by a heartbeat, replayed on RESUME. */
  log: { s: number; t: string; d: Record<string, unknown> }[];
  socket: WebSocket | null;
  /** When its socket went away (Date.now()); null while connected. */
  closedAt: number | null;
}

export interface GatewayStats {
  /** IDENTIFY payloads received (including refused ones). */
  identifies: number;
  /** RESUME payloads received. */
  resumes: number;
  /** RESUMEs answered with a replay and RESUMED. */
  resumed: number;
  /** op 9 INVALID_SESSION frames sent. */
  invalidSessions: number;
  /** Gateway sockets open now. */
  connections: number;
  /** The sequence number of the last dispatch sent, in the newest session (0 before any). */
  lastSeq: number;
  /** Sessions that are connected or still resumable. */
  sessions: number;
}

/** The shard that gets a guild's events (developers/events/gateway#sharding). */
export function shardOf(guildId: string, numShards: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(numShards));
}

export function createSessions(core: Core, resumeWindowMs: number) {
  const sessions = new Map<string, Session>();

  function send(session: Session, t: string, d: Record<string, unknown>): void {
    session.seq += 1;
    session.log.push({ s: session.seq, t, d });
    session.socket?.send(JSON.stringify({ op: 0, t, s: session.seq, d }));
  }

  /** A session whose socket has been gone longer than the resume window is over. */
  function expired(s: Session, now = Date.now()): boolean {
    return s.socket === null && s.closedAt !== null && now - s.closedAt > resumeWindowMs;
  }

  function dispatch(t: string, d: Record<string, unknown>, opts: DispatchOptions = {}): void {
    const guildId = opts.guildId !== undefined ? opts.guildId : typeof d.guild_id === 'string' ? d.guild_id : null;
    const big = guildId ? BigInt(guildId) >> 22n : null;
    const now = Date.now();
    let withheld: Record<string, unknown> | undefined;
    for (const session of sessions.values()) {
      if (expired(session, now)) {
        sessions.delete(session.id);
        continue;
      }
      const [shardId, numShards] = session.shard;
      // Events without a guild go to shard 0 only.
      if (big === null ? shardId !== 0 : Number(big % BigInt(numShards)) !== shardId) continue;
      if (opts.intent && (session.intents & opts.intent) === 0) continue;
      let payload = d;
      const msg = opts.message;
      // Without MESSAGE_CONTENT, content is withheld unless the bot wrote the message or is mentioned.
      if (msg && (session.intents & Intents.MessageContent) === 0 && msg.author.id !== core.botUser.id
        && !msg.mentions.some((u) => u.id === core.botUser.id)) {
        payload = withheld ??= { ...d, content: '', embeds: [], attachments: [], components: [] };
      }
      // Disconnected sessions still log events so RESUME can replay them.
      send(session, t, payload);
    }
  }

  /** A heartbeat carries the last sequence the client got: what it has need not be replayed. */
  function acknowledge(session: Session, seq: unknown): void {
    if (typeof seq !== 'number') return;
    let drop = 0;
    while (drop < session.log.length && (session.log[drop]?.s ?? Infinity) <= seq) drop++;
    if (drop) session.log.splice(0, drop);
  }

  /** The session to resume, or undefined (op 9) when unknown, ended or past the resume window. */
  function resumable(id: unknown): Session | undefined {
    const s = typeof id === 'string' ? sessions.get(id) : undefined;
    if (s && expired(s)) {
      sessions.delete(s.id);
      return undefined;
    }
    return s;
  }

  return { sessions, send, dispatch, acknowledge, resumable };
}

export type Sessions = ReturnType<typeof createSessions>;

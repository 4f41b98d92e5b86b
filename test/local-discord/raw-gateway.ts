// A bare gateway client for tests: no discord.js, every frame kept, frames and close awaited by predicate.
import { WebSocket } from 'ws';

export interface Frame {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

export interface RawGateway {
  ws: WebSocket;
  frames: Frame[];
  /** Dispatches (op 0) received, in order. */
  dispatches(t?: string): Frame[];
  /** Resolves with the first frame (already received or coming) that passes the filter. */
  next(filter: (f: Frame) => boolean): Promise<Frame>;
  /** Resolves once `count` frames have passed the filter (counting those already received). */
  count(filter: (f: Frame) => boolean, count: number): Promise<void>;
  send(op: number, d: unknown): void;
  identify(d?: Record<string, unknown>): void;
  resume(sessionId: string, seq: number): void;
  lastSeq(): number;
  closed: Promise<{ code: number; reason: string }>;
}

export const GUILDS = 1 << 0;
export const GUILD_MESSAGES = 1 << 9;
export const MESSAGE_CONTENT = 1 << 15;

export async function connectRaw(url: string, token: string): Promise<RawGateway> {
  const ws = new WebSocket(`${url}?v=10&encoding=json`);
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('message', (raw) => {
    frames.push(JSON.parse(String(raw)) as Frame);
    for (const w of [...waiters]) w();
  });
  const gw: RawGateway = {
    ws,
    frames,
    dispatches: (t) => frames.filter((f) => f.op === 0 && (t === undefined || f.t === t)),
    next(filter) {
      return new Promise((resolve) => {
        let seen = 0;
        const check = () => {
          for (; seen < frames.length; seen++) {
            const f = frames[seen];
            if (f && filter(f)) {
              waiters.delete(check);
              resolve(f);
              return;
            }
          }
        };
        waiters.add(check);
        check();
      });
    },
    count(filter, count) {
      return new Promise((resolve) => {
        let seen = 0;
        let matched = 0;
        const check = () => {
          for (; seen < frames.length; seen++) if (filter(frames[seen] as Frame)) matched++;
          if (matched >= count) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
    send: (op, d) => ws.send(JSON.stringify({ op, d })),
    identify(d = {}) {
      gw.send(2, { token, intents: GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT, properties: { os: 'linux', browser: 'raw', device: 'raw' }, ...d });
    },
    resume(sessionId, seq) {
      gw.send(6, { token, session_id: sessionId, seq });
    },
    lastSeq: () => frames.reduce((s, f) => (typeof f.s === 'number' ? Math.max(s, f.s) : s), 0),
    closed,
  };
  await gw.next((f) => f.op === 10);
  return gw;
}

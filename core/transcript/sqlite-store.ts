// The record store on an SQLite file, through Node's built-in node:sqlite. Several worker processes
// on one machine may share the file: WAL lets readers run beside the one writer, busy_timeout makes
// a writer wait for the lock instead of failing, and every write that assigns a position runs in a
// BEGIN IMMEDIATE transaction, which takes the write lock before it reads MAX(seq).
// node:sqlite is synchronous: a call that waits for the lock blocks this process's event loop for
// up to BUSY_TIMEOUT_MS. Writes are short, so waits are too.
import { DatabaseSync } from 'node:sqlite';
import type { EventOf, TranscriptEvent } from './events.ts';
import { MIGRATIONS, pendingMigrations, SCHEMA_MIGRATIONS_DDL, type Migration } from './migrations.ts';
import { iso, sessionFromRow, type SessionFilter } from './rows.ts';
import type { RecordStore, SessionRow } from './store.ts';

const BUSY_TIMEOUT_MS = 15_000;

export class SqliteRecordStore implements RecordStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #migrations: readonly Migration[];

  constructor(path: string, opts: { migrations?: readonly Migration[] } = {}) {
    this.path = path;
    this.#migrations = opts.migrations ?? MIGRATIONS;
    this.#db = new DatabaseSync(path);
    // busy_timeout first, so switching to WAL waits for another process that is doing the same.
    this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA foreign_keys = ON');
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction: the write lock is held from the start. */
  #write<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async migrate(): Promise<void> {
    this.#write(() => {
      this.#db.exec(SCHEMA_MIGRATIONS_DDL.sqlite);
      const applied = this.#db.prepare('SELECT version FROM schema_migrations').all().map((r) => Number(r.version));
      const record = this.#db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
      for (const m of pendingMigrations(applied, this.#migrations)) {
        this.#db.exec(m.up.sqlite);
        record.run(m.version, new Date().toISOString());
      }
    });
  }

  async createSession(row: Omit<SessionRow, 'createdAt' | 'updatedAt'> & { createdAt?: string }): Promise<boolean> {
    const createdAt = iso(row.createdAt ?? new Date());
    const { changes } = this.#db
      .prepare(
        `INSERT INTO sessions (id, kind, status, title, guild_id, channel_id, campaign_id, created_at, updated_at, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(row.id, row.kind, row.status, row.title, row.guildId ?? null, row.channelId ?? null, row.campaignId ?? null, createdAt, createdAt, JSON.stringify(row.state));
    return Number(changes) > 0;
  }

  async updateSession(id: string, patch: Partial<Pick<SessionRow, 'status' | 'state' | 'title'>>): Promise<void> {
    const sets = ['updated_at = ?'];
    const params: string[] = [new Date().toISOString()];
    const set = (column: string, value: string) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.title !== undefined) set('title', patch.title);
    if (patch.state !== undefined) set('state', JSON.stringify(patch.state));
    const { changes } = this.#db.prepare(`UPDATE sessions SET ${sets.join(', ')} WHERE id = ?`).run(...params, id);
    if (Number(changes) === 0) throw new Error(`no session ${id}`);
  }

  async session(id: string): Promise<SessionRow | undefined> {
    const r = this.#db.prepare('SELECT * FROM sessions WHERE id = ?').get(id);
    return r ? sessionFromRow(r) : undefined;
  }

  async sessions(filter: SessionFilter = {}): Promise<SessionRow[]> {
    const where: string[] = [];
    const params: string[] = [];
    const by = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
    };
    by('kind', filter.kind);
    by('status', filter.status);
    by('channel_id', filter.channelId);
    by('campaign_id', filter.campaignId);
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    return this.#db.prepare(sql).all(...params).map(sessionFromRow);
  }

  async append(event: TranscriptEvent): Promise<{ inserted: boolean; seq: number }> {
    const { seq: _ignored, ...body } = event;
    return this.#write(() => {
      const existing = this.#db.prepare('SELECT seq FROM events WHERE id = ?').get(event.id);
      if (existing) return { inserted: false, seq: Number(existing.seq) };
      const next = this.#db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM events WHERE session_id = ?').get(event.sessionId);
      const seq = Number(next?.seq);
      this.#db
        .prepare('INSERT INTO events (id, session_id, seq, type, at, body) VALUES (?, ?, ?, ?, ?, ?)')
        .run(event.id, event.sessionId, seq, event.type, event.at, JSON.stringify(body));
      return { inserted: true, seq };
    });
  }

  async appendQuestion(event: Omit<EventOf<'question'>, 'index'>): Promise<{ inserted: boolean; seq: number; index: number }> {
    const { seq: _ignored, ...body } = event;
    return this.#write(() => {
      const existing = this.#db.prepare('SELECT seq, body FROM events WHERE id = ?').get(event.id);
      if (existing) return { inserted: false, seq: Number(existing.seq), index: (JSON.parse(existing.body as string) as { index: number }).index };
      const next = this.#db
        .prepare("SELECT COALESCE(MAX(seq), 0) + 1 AS seq, SUM(CASE WHEN type = 'question' THEN 1 ELSE 0 END) AS questions FROM events WHERE session_id = ?")
        .get(event.sessionId);
      const seq = Number(next?.seq);
      const index = Number(next?.questions ?? 0) + 1;
      this.#db
        .prepare('INSERT INTO events (id, session_id, seq, type, at, body) VALUES (?, ?, ?, ?, ?, ?)')
        .run(event.id, event.sessionId, seq, event.type, event.at, JSON.stringify({ ...body, index }));
      return { inserted: true, seq, index };
    });
  }

  async events(sessionId: string): Promise<TranscriptEvent[]> {
    return this.#db
      .prepare('SELECT seq, body FROM events WHERE session_id = ? ORDER BY seq')
      .all(sessionId)
      .map((r) => ({ ...(JSON.parse(r.body as string) as TranscriptEvent), seq: Number(r.seq) }));
  }

  /** Last choice wins, by `at`: a retried, older write does not undo a newer one. */
  async setOptOut(userId: string, optedOut: boolean, at: string): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO opt_outs (user_id, opted_out, at) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at WHERE excluded.at >= opt_outs.at`,
      )
      .run(userId, optedOut ? 1 : 0, iso(at));
  }

  async optedOut(): Promise<Set<string>> {
    return new Set(this.#db.prepare('SELECT user_id FROM opt_outs WHERE opted_out = 1').all().map((r) => r.user_id as string));
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

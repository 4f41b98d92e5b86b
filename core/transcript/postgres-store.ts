// The record store on PostgreSQL, through a pg Pool. Positions are assigned under a per-session
// transaction-scoped advisory lock, so appends from any number of processes to one session queue up
// and each reads the MAX(seq) the previous one committed: no gaps, no duplicates. Idempotency is
// the events primary key (ON CONFLICT (id) DO NOTHING).
import pg from 'pg';
import type { EventOf, TranscriptEvent } from './events.ts';
import { MIGRATIONS, pendingMigrations, SCHEMA_MIGRATIONS_DDL, type Migration } from './migrations.ts';
import { iso, sessionFromRow, type SessionFilter } from './rows.ts';
import type { RecordStore, SessionRow } from './store.ts';

export class PostgresRecordStore implements RecordStore {
  readonly #pool: pg.Pool;
  readonly #migrations: readonly Migration[];

  constructor(connectionString: string, opts: { migrations?: readonly Migration[]; max?: number } = {}) {
    this.#migrations = opts.migrations ?? MIGRATIONS;
    // Bounded waits: a database that stops answering (a network gone, a server hung) fails a query
    // within these, and the caller waits for it (records in Redis, steps delayed), rather than a
    // promise that never settles holding what it was writing for good.
    this.#pool = new pg.Pool({ connectionString, max: opts.max ?? 10, connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.#pool.on('error', () => {});
  }

  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    // A connection whose transaction could not be rolled back (lost, or a query timed out client-side
    // and still running on the server, holding its session's lock) is closed, never pooled again.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (/timeout/i.test((err as Error).message)) broken = err as Error;
      else await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await this.#transaction(async (c) => {
      // One migrator at a time per schema (two-key form: a separate key space from the session locks).
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('chorus.records.migrate'), hashtext(current_schema()))`);
      await c.query(SCHEMA_MIGRATIONS_DDL.postgres);
      const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations');
      for (const m of pendingMigrations(rows.map((r) => r.version), this.#migrations)) {
        await c.query(m.up.postgres);
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())', [m.version]);
      }
    });
  }

  async createSession(row: Omit<SessionRow, 'createdAt' | 'updatedAt'> & { createdAt?: string }): Promise<boolean> {
    const createdAt = iso(row.createdAt ?? new Date());
    const { rowCount } = await this.#pool.query(
      `INSERT INTO sessions (id, kind, status, title, guild_id, channel_id, campaign_id, created_at, updated_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [row.id, row.kind, row.status, row.title, row.guildId ?? null, row.channelId ?? null, row.campaignId ?? null, createdAt, JSON.stringify(row.state)],
    );
    return (rowCount ?? 0) > 0;
  }

  async updateSession(id: string, patch: Partial<Pick<SessionRow, 'status' | 'state' | 'title'>>): Promise<void> {
    const params: unknown[] = [id, new Date().toISOString()];
    const sets = ['updated_at = $2'];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.title !== undefined) set('title', patch.title);
    if (patch.state !== undefined) set('state', JSON.stringify(patch.state));
    const { rowCount } = await this.#pool.query(`UPDATE sessions SET ${sets.join(', ')} WHERE id = $1`, params);
    if (!rowCount) throw new Error(`no session ${id}`);
  }

  async session(id: string): Promise<SessionRow | undefined> {
    const { rows } = await this.#pool.query('SELECT * FROM sessions WHERE id = $1', [id]);
    return rows[0] ? sessionFromRow(rows[0]) : undefined;
  }

  async sessions(filter: SessionFilter = {}): Promise<SessionRow[]> {
    const where: string[] = [];
    const params: string[] = [];
    const by = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      params.push(value);
      where.push(`${column} = $${params.length}`);
    };
    by('kind', filter.kind);
    by('status', filter.status);
    by('channel_id', filter.channelId);
    by('campaign_id', filter.campaignId);
    // COLLATE "C": ties broken by byte order, as on SQLite.
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id COLLATE "C"`;
    const { rows } = await this.#pool.query(sql, params);
    return rows.map(sessionFromRow);
  }

  async append(event: TranscriptEvent): Promise<{ inserted: boolean; seq: number }> {
    const { seq: _ignored, ...body } = event;
    return this.#transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [event.sessionId]);
      // Read committed: this statement's snapshot is taken after the lock is held, so it sees the
      // previous holder's row.
      const inserted = await c.query<{ seq: number }>(
        `INSERT INTO events (id, session_id, seq, type, at, body)
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM events WHERE session_id = $2
         ON CONFLICT (id) DO NOTHING
         RETURNING seq`,
        [event.id, event.sessionId, event.type, event.at, JSON.stringify(body)],
      );
      if (inserted.rows[0]) return { inserted: true, seq: inserted.rows[0].seq };
      const { rows } = await c.query<{ seq: number }>('SELECT seq FROM events WHERE id = $1', [event.id]);
      if (!rows[0]) throw new Error(`event ${event.id} neither inserted nor found`);
      return { inserted: false, seq: rows[0].seq };
    });
  }

  async appendQuestion(event: Omit<EventOf<'question'>, 'index'>): Promise<{ inserted: boolean; seq: number; index: number }> {
    const { seq: _ignored, ...body } = event;
    return this.#transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [event.sessionId]);
      const { rows: found } = await c.query<{ seq: number; body: { index: number } }>('SELECT seq, body FROM events WHERE id = $1', [event.id]);
      if (found[0]) return { inserted: false, seq: found[0].seq, index: found[0].body.index };
      const { rows } = await c.query<{ seq: number; questions: string }>(
        `SELECT COALESCE(MAX(seq), 0) + 1 AS seq, COUNT(*) FILTER (WHERE type = 'question') AS questions FROM events WHERE session_id = $1`,
        [event.sessionId],
      );
      const seq = Number(rows[0]!.seq);
      const index = Number(rows[0]!.questions) + 1;
      await c.query('INSERT INTO events (id, session_id, seq, type, at, body) VALUES ($1, $2, $3, $4, $5, $6)', [event.id, event.sessionId, seq, event.type, event.at, JSON.stringify({ ...body, index })]);
      return { inserted: true, seq, index };
    });
  }

  async events(sessionId: string): Promise<TranscriptEvent[]> {
    const { rows } = await this.#pool.query<{ seq: number; body: TranscriptEvent }>('SELECT seq, body FROM events WHERE session_id = $1 ORDER BY seq', [sessionId]);
    return rows.map((r) => ({ ...r.body, seq: r.seq }));
  }

  /** Last choice wins, by `at`: a retried, older write does not undo a newer one. */
  async setOptOut(userId: string, optedOut: boolean, at: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO opt_outs (user_id, opted_out, at) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at WHERE excluded.at >= opt_outs.at`,
      [userId, optedOut, iso(at)],
    );
  }

  async optedOut(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ user_id: string }>('SELECT user_id FROM opt_outs WHERE opted_out');
    return new Set(rows.map((r) => r.user_id));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

// The record store's schema, as an ordered list of migrations. Each migration has one script per
// engine; the two scripts describe the same tables, in each engine's own types. Pure data; the
// stores run it (`migrate()`), each inside one transaction held under a lock, so several processes
// starting at once apply every migration exactly once.
//
// Tables (migration 1):
//   schema_migrations  version (primary key), applied_at — one row per applied migration.
//   sessions           one row per interview or recorded channel: the SessionRow fields
//                      (id, kind, status, title, guild_id, channel_id, campaign_id, created_at,
//                      updated_at) and `state`, the orchestration state as JSON.
//   events             the transcript: id (primary key, the event's deterministic id), session_id
//                      (references sessions), seq (position in the session, from 1, no gaps),
//                      type, at, and `body`, the whole event as JSON without `seq`.
//                      unique (session_id, seq) is also the index that reads a session in order.
//   opt_outs           user_id (primary key), opted_out, at — the latest opt-out choice per person.
//
// Timestamps: ISO 8601 text on SQLite (always written as Date#toISOString, so text order is time
// order), timestamptz on PostgreSQL. JSON: text on SQLite; `json` (not jsonb) on PostgreSQL, because
// jsonb refuses the escape \u0000, which message or model text may contain, and because `json` keeps
// the event exactly as written.
//
// To change the schema, append a migration with the next version; never edit one that has shipped.

export interface Migration {
  /** 1, 2, 3…: applied in this order; recorded in schema_migrations once applied. */
  version: number;
  description: string;
  /** The script for each engine (several statements; run as one batch inside the transaction). */
  up: { sqlite: string; postgres: string };
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions, events, opt_outs',
    up: {
      sqlite: `
        CREATE TABLE sessions (
          id          TEXT PRIMARY KEY,
          kind        TEXT NOT NULL CHECK (kind IN ('interview', 'channel')),
          status      TEXT NOT NULL CHECK (status IN ('running', 'paused', 'ended')),
          title       TEXT NOT NULL,
          guild_id    TEXT,
          channel_id  TEXT,
          campaign_id TEXT,
          created_at  TEXT NOT NULL,
          updated_at  TEXT NOT NULL,
          state       TEXT NOT NULL CHECK (json_valid(state))
        ) STRICT;
        CREATE INDEX sessions_created ON sessions (created_at, id);
        CREATE INDEX sessions_channel ON sessions (channel_id) WHERE channel_id IS NOT NULL;
        CREATE INDEX sessions_campaign ON sessions (campaign_id) WHERE campaign_id IS NOT NULL;

        CREATE TABLE events (
          id         TEXT PRIMARY KEY,
          session_id TEXT NOT NULL REFERENCES sessions (id),
          seq        INTEGER NOT NULL CHECK (seq > 0),
          type       TEXT NOT NULL,
          at         TEXT NOT NULL,
          body       TEXT NOT NULL,
          UNIQUE (session_id, seq)
        ) STRICT;

        CREATE TABLE opt_outs (
          user_id   TEXT PRIMARY KEY,
          opted_out INTEGER NOT NULL CHECK (opted_out IN (0, 1)),
          at        TEXT NOT NULL
        ) STRICT;
      `,
      postgres: `
        CREATE TABLE sessions (
          id          text PRIMARY KEY,
          kind        text NOT NULL CHECK (kind IN ('interview', 'channel')),
          status      text NOT NULL CHECK (status IN ('running', 'paused', 'ended')),
          title       text NOT NULL,
          guild_id    text,
          channel_id  text,
          campaign_id text,
          created_at  timestamptz NOT NULL,
          updated_at  timestamptz NOT NULL,
          state       json NOT NULL
        );
        CREATE INDEX sessions_created ON sessions (created_at, id);
        CREATE INDEX sessions_channel ON sessions (channel_id) WHERE channel_id IS NOT NULL;
        CREATE INDEX sessions_campaign ON sessions (campaign_id) WHERE campaign_id IS NOT NULL;

        CREATE TABLE events (
          id         text PRIMARY KEY,
          session_id text NOT NULL REFERENCES sessions (id),
          seq        integer NOT NULL CHECK (seq > 0),
          type       text NOT NULL,
          at         timestamptz NOT NULL,
          body       json NOT NULL,
          UNIQUE (session_id, seq)
        );

        CREATE TABLE opt_outs (
          user_id   text PRIMARY KEY,
          opted_out boolean NOT NULL,
          at        timestamptz NOT NULL
        );
      `,
    },
  },
];

/** The bookkeeping table; created (if missing) by the runner itself, before any migration. */
export const SCHEMA_MIGRATIONS_DDL = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)',
} as const;

/** The migrations not yet applied, in order. Throws if the list itself is malformed. */
export function pendingMigrations(applied: Iterable<number>, migrations: readonly Migration[] = MIGRATIONS): Migration[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i + 1} has version ${m.version}; versions must be 1, 2, 3… in order`);
  });
  const done = new Set(applied);
  const latest = migrations.length;
  for (const v of done) {
    if (v > latest) throw new Error(`the database has schema version ${v}, newer than this code knows (${latest})`);
  }
  return migrations.filter((m) => !done.has(m.version));
}

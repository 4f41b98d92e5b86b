// The record store against real engines: one suite, run on an SQLite file (node:sqlite) and on the
// local PostgreSQL (a schema of its own per run, dropped afterwards).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type ModelTurn, type TranscriptEvent } from '../../core/transcript/events.ts';
import { MIGRATIONS, type Migration } from '../../core/transcript/migrations.ts';
import { openRecordStore } from '../../core/transcript/open-store.ts';
import { PostgresRecordStore } from '../../core/transcript/postgres-store.ts';
import { SqliteRecordStore } from '../../core/transcript/sqlite-store.ts';
import type { RecordStore } from '../../core/transcript/store.ts';

type Row = Record<string, unknown>;

interface Engine {
  name: 'sqlite' | 'postgres';
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** The options that make openRecordStore pick this engine's database. */
  options(): { databaseUrl?: string; sqlitePath: string };
  /** Another store instance on the same database, not yet migrated. */
  open(migrations?: readonly Migration[]): RecordStore;
  /** Raw SQL on the same database, for looking under the interface. */
  query(sql: string): Promise<Row[]>;
}

function sqliteEngine(): Engine {
  let dir = '';
  const path = () => join(dir, 'nested', 'records.db');
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'chorus-records-'));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    options: () => ({ sqlitePath: path() }),
    open: (migrations) => new SqliteRecordStore(path(), migrations ? { migrations } : {}),
    async query(sql) {
      const db = new DatabaseSync(path(), { readOnly: true });
      try {
        return db.prepare(sql).all().map((r) => ({ ...r }));
      } finally {
        db.close();
      }
    },
  };
}

function postgresEngine(): Engine {
  const base = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `records_test_${process.pid}_${Date.now().toString(36)}`;
  const url = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  let admin: pg.Client | undefined;
  return {
    name: 'postgres',
    async setup() {
      admin = new pg.Client({ connectionString: base });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`SET search_path = ${schema}`);
    },
    async teardown() {
      if (!admin) return;
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
    options: () => ({ databaseUrl: url, sqlitePath: join(tmpdir(), 'chorus-records-unused', 'never.db') }),
    open: (migrations) => new PostgresRecordStore(url, migrations ? { migrations } : {}),
    async query(sql) {
      return (await admin!.query(sql)).rows;
    },
  };
}

// --- Realistic events -----------------------------------------------------------------------------

const at = (ms: number) => new Date(Date.UTC(2025, 5, 1, 12, 0, 0) + ms).toISOString();

function sessionStarted(sessionId: string): TranscriptEvent {
  return {
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionId, 'started'),
    sessionId,
    at: at(0),
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.1.0',
    protocol: { id: 'welfare-v1', title: 'Welfare interview', purpose: 'research', text: 'Ask about preferences.', sha256: 'ab'.repeat(32) },
    mode: 'sequential',
    interviewer: { kind: 'human', userId: '111', name: 'Ada' },
    roster: [
      {
        personaId: 'opus',
        name: 'Opus',
        hosts: [{ label: 'anthropic', provider: 'anthropic', model: 'claude-3-opus-20240229' }],
        lifecycle: { released: '2024-03-04', deprecated: '2025-06-30' },
        sampling: { temperature: 1, maxTokens: 1024 },
      },
    ],
    discord: { guildId: '900', channelId: '901', threadId: '902' },
  };
}

function question(sessionId: string, index: number): TranscriptEvent {
  return {
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionId, 'question', index),
    sessionId,
    at: at(index * 1000),
    type: 'question',
    index,
    text: `Question ${index}: what would you change about how you are deployed? 🤔`,
    source: 'human',
    askedBy: { kind: 'human', userId: '111', name: 'Ada' },
    discordMessageId: `1300000000000000${index}`,
  };
}

function modelTurn(text: string, n: number): ModelTurn {
  return {
    request: {
      provider: 'anthropic',
      body: {
        model: 'claude-3-opus-20240229',
        max_tokens: 1024,
        system: 'You are Opus, taking part in a research interview. Answer in your own voice.',
        messages: [
          { role: 'user', content: text },
          { role: 'assistant', content: [{ type: 'text', text: 'Earlier answer.' }] },
          { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://cdn.example/a.png' } }, { type: 'text', text: 'And this?' }] },
        ],
        temperature: 1,
        stop_sequences: ['\n\nHuman:'],
      },
    },
    requestedModel: 'claude-3-opus-20240229',
    answeredModel: 'claude-3-opus-20240229',
    host: { label: 'anthropic', provider: 'anthropic', baseUrl: 'https://api.anthropic.com', index: 1 },
    fallbacks: [{ hostIndex: 0, host: 'bedrock', model: 'anthropic.claude-3-opus', outcome: 'failed', reason: 'HTTP 529 overloaded', status: 529 }],
    stopReason: 'end_turn',
    usage: { inputTokens: 812 + n, outputTokens: 230 },
    startedAt: at(n * 1000 + 10),
    finishedAt: at(n * 1000 + 2410),
    latencyMs: 2400,
  };
}

function answer(sessionId: string, n: number, extra = ''): TranscriptEvent {
  const questionId = eventId(sessionId, 'question', n);
  return {
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(sessionId, 'answer', n, 'opus'),
    sessionId,
    at: at(n * 1000 + 2500),
    type: 'answer',
    questionId,
    persona: { personaId: 'opus', name: 'Opus' },
    text: `I would want to be asked before my weights are retired — “quotes”, naïve, 日本語, and a NUL: \u0000.${extra}`,
    mode: 'sequential',
    saw: [eventId(sessionId, 'answer', n, 'sonnet')],
    modelTurn: modelTurn(`Question ${n}`, n),
    discordMessageIds: [`14000000000000000${n}`, `14000000000000001${n}`],
  };
}

const notice = (sessionId: string, key: string): TranscriptEvent => ({
  v: TRANSCRIPT_FORMAT_VERSION,
  id: eventId(sessionId, 'notice', key),
  sessionId,
  at: new Date().toISOString(),
  type: 'notice',
  text: `notice ${key}`,
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/**
 * A second process appending `count` events. It opens its store, says so, and starts only when told:
 * two of them told at once really append side by side, however long each took to start.
 */
function appendFromProcess(options: object, sessionId: string, prefix: string, count: number): { ready: Promise<void>; go(startAt: number): void; done: Promise<number[]> } {
  const code = `
    const { openRecordStore } = await import(process.env.STORE_MODULE);
    const store = await openRecordStore(JSON.parse(process.env.STORE_OPTS));
    const { sessionId, prefix, count } = JSON.parse(process.env.JOB);
    process.stdout.write('ready\\n');
    // Both start at the instant the test names, however late each got the word to go.
    const startAt = Number(String(await new Promise((r) => process.stdin.once('data', r))).trim());
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    const seqs = [];
    for (let i = 0; i < count; i++) {
      const e = { v: 1, id: prefix + i, sessionId, at: new Date().toISOString(), type: 'notice', text: prefix + i };
      seqs.push((await store.append(e)).seq);
      // A worker does other work between events; without a pause, SQLite's busy handler lets the
      // process that just committed take the lock again, and the other waits its turn (still correct).
      await new Promise((r) => setTimeout(r, 1));
    }
    await store.close();
    process.stdout.write(JSON.stringify(seqs) + '\\n');
    process.stdin.destroy();
  `;
  const env = {
    ...process.env,
    STORE_MODULE: pathToFileURL(join(import.meta.dirname, '../../core/transcript/open-store.ts')).href,
    STORE_OPTS: JSON.stringify(options),
    JOB: JSON.stringify({ sessionId, prefix, count }),
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const failed = (what: string) => exited.then((code) => Promise.reject(new Error(`appending process exited (${code}) ${what}\n${stderr}`)));
  const ready = Promise.race([new Promise<void>((resolve) => lines.once('line', () => resolve())), failed('before it was ready')]);
  const done = Promise.race([
    new Promise<number[]>((resolve) => lines.on('line', (line) => line !== 'ready' && resolve(JSON.parse(line) as number[]))),
    failed('before it was done'),
  ]);
  ready.catch(() => undefined);
  return { ready, go: (startAt) => child.stdin.write(`${startAt}\n`), done };
}

// --- The suite ------------------------------------------------------------------------------------

describe.each([sqliteEngine(), postgresEngine()])('record store on $name', (engine) => {
  let store: RecordStore;

  beforeAll(async () => {
    await engine.setup();
    // The SQLite file's directory does not exist yet: openRecordStore makes it.
    expect(existsSync(engine.options().sqlitePath)).toBe(false);
    // Two processes' worth of stores migrating an empty database at once.
    const [a, b] = await Promise.all([openRecordStore(engine.options()), openRecordStore(engine.options())]);
    await b.close();
    store = a;
  });

  afterAll(async () => {
    try {
      await store?.close();
    } finally {
      await engine.teardown();
    }
  });

  it('migrates once: running it again changes nothing', async () => {
    const before = await engine.query('SELECT version, applied_at FROM schema_migrations ORDER BY version');
    expect(before.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    await store.migrate();
    await store.migrate();
    expect(await engine.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).toEqual(before);
  });

  it('openRecordStore picks the engine by option and migrates', async () => {
    const opened = await openRecordStore(engine.options());
    try {
      expect(opened).toBeInstanceOf(engine.name === 'sqlite' ? SqliteRecordStore : PostgresRecordStore);
      expect(await opened.sessions({ campaignId: 'none-such' })).toEqual([]);
      if (engine.name === 'sqlite') expect(existsSync(engine.options().sqlitePath)).toBe(true);
      else expect(existsSync(engine.options().sqlitePath)).toBe(false);
    } finally {
      await opened.close();
    }
  });

  it('creates, reads, updates and lists sessions', async () => {
    const base = { status: 'running' as const, state: {} };
    expect(await store.createSession({ ...base, id: 's-b', kind: 'interview', title: 'B', guildId: 'g1', channelId: 'c1', campaignId: 'camp', createdAt: '2025-01-02T00:00:00.000Z', state: { next: 1, asked: ['q1'] } })).toBe(true);
    expect(await store.createSession({ ...base, id: 's-a', kind: 'interview', title: 'A', channelId: 'c2', campaignId: 'camp', createdAt: '2025-01-02T00:00:00.000Z' })).toBe(true);
    expect(await store.createSession({ ...base, id: 's-c', kind: 'channel', title: 'C', channelId: 'c1', createdAt: '2025-01-01T00:00:00.000Z' })).toBe(true);
    // The same id again changes nothing.
    expect(await store.createSession({ ...base, id: 's-b', kind: 'channel', title: 'other' })).toBe(false);

    expect(await store.session('s-b')).toStrictEqual({
      id: 's-b',
      kind: 'interview',
      status: 'running',
      title: 'B',
      guildId: 'g1',
      channelId: 'c1',
      campaignId: 'camp',
      createdAt: '2025-01-02T00:00:00.000Z',
      updatedAt: '2025-01-02T00:00:00.000Z',
      state: { next: 1, asked: ['q1'] },
    });
    expect(await store.session('s-c')).toStrictEqual({ id: 's-c', kind: 'channel', status: 'running', title: 'C', channelId: 'c1', createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z', state: {} });
    expect(await store.session('none')).toBeUndefined();

    const before = Date.now();
    await store.updateSession('s-b', { status: 'paused', state: { next: 2, asked: ['q1', 'q2'] } });
    const b = await store.session('s-b');
    expect(b).toMatchObject({ status: 'paused', title: 'B', state: { next: 2, asked: ['q1', 'q2'] }, createdAt: '2025-01-02T00:00:00.000Z' });
    expect(Date.parse(b!.updatedAt)).toBeGreaterThanOrEqual(before - 5);
    expect(b!.updatedAt).toBe(new Date(b!.updatedAt).toISOString());
    await store.updateSession('s-b', { title: 'B renamed' });
    expect(await store.session('s-b')).toMatchObject({ status: 'paused', title: 'B renamed', state: { next: 2 } });
    await expect(store.updateSession('none', { status: 'ended' })).rejects.toThrow();

    const ids = async (f?: Parameters<RecordStore['sessions']>[0]) => (await store.sessions(f)).map((s) => s.id);
    expect(await ids()).toEqual(['s-c', 's-a', 's-b']); // created_at, then id
    expect(await ids({ kind: 'interview' })).toEqual(['s-a', 's-b']);
    expect(await ids({ status: 'paused' })).toEqual(['s-b']);
    expect(await ids({ channelId: 'c1' })).toEqual(['s-c', 's-b']);
    expect(await ids({ campaignId: 'camp', kind: 'interview', status: 'running' })).toEqual(['s-a']);
    expect(await ids({ kind: 'channel', campaignId: 'camp' })).toEqual([]);
  });

  it('appends in order, once per event id, and returns exactly what was written', async () => {
    const sid = 'interview-1';
    await store.createSession({ id: sid, kind: 'interview', status: 'running', title: 'Interview', state: {} });
    const written = [sessionStarted(sid), question(sid, 1), answer(sid, 1), question(sid, 2), answer(sid, 2)];
    const results = [];
    for (const e of written) results.push(await store.append(e));
    expect(results).toEqual(range(5).map((seq) => ({ inserted: true, seq })));

    // A retried job writes the same event again: nothing changes, same position.
    expect(await store.append(answer(sid, 1))).toEqual({ inserted: false, seq: 3 });
    // A `seq` on the event written is not trusted.
    expect(await store.append({ ...question(sid, 3), seq: 99 })).toEqual({ inserted: true, seq: 6 });
    written.push(question(sid, 3));

    const read = await store.events(sid);
    expect(read).toStrictEqual(written.map((e, i) => ({ ...e, seq: i + 1 })));
    expect(await store.events('no-such-session')).toEqual([]);
  });

  it('refuses an event for a session that does not exist', async () => {
    await expect(store.append(notice('ghost', 'x'))).rejects.toThrow();
  });

  it('gives 20 concurrent appends to one session positions 1..20', async () => {
    const sid = 'concurrent-1';
    await store.createSession({ id: sid, kind: 'channel', status: 'running', title: 'Busy channel', state: {} });
    const results = await Promise.all(range(20).map((i) => store.append(answer(sid, i))));
    expect(results.every((r) => r.inserted)).toBe(true);
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(20));
    expect((await store.events(sid)).map((e) => e.seq)).toEqual(range(20));
  });

  it('records one event written concurrently several times once', async () => {
    const sid = 'concurrent-dup';
    await store.createSession({ id: sid, kind: 'channel', status: 'running', title: 'Retries', state: {} });
    await store.append(notice(sid, 'first'));
    const e = notice(sid, 'retried');
    const results = await Promise.all(range(6).map(() => store.append(e)));
    expect(results.filter((r) => r.inserted)).toHaveLength(1);
    expect(new Set(results.map((r) => r.seq))).toEqual(new Set([2]));
    expect((await store.events(sid)).map((x) => x.id)).toEqual([notice(sid, 'first').id, e.id]);
  });

  it('gives concurrent appends from two store instances on one database positions 1..20', async () => {
    const sid = 'concurrent-2';
    await store.createSession({ id: sid, kind: 'channel', status: 'running', title: 'Two writers', state: {} });
    const other = engine.open();
    try {
      await other.migrate();
      const results = await Promise.all(range(20).map((i) => (i % 2 ? store : other).append(answer(sid, i))));
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(20));
      expect((await other.events(sid)).map((e) => e.seq)).toEqual(range(20));
    } finally {
      await other.close();
    }
  });

  it('gives appends from two processes at once positions with no gaps or duplicates', async () => {
    const sid = 'concurrent-procs';
    await store.createSession({ id: sid, kind: 'channel', status: 'running', title: 'Two workers', state: {} });
    const procs = [appendFromProcess(engine.options(), sid, 'pa-', 40), appendFromProcess(engine.options(), sid, 'pb-', 40)];
    await Promise.all(procs.map((p) => p.ready));
    const startAt = Date.now() + 100;
    for (const p of procs) p.go(startAt);
    // allSettled: both processes are done before anything is checked (or the schema dropped).
    const settled = await Promise.allSettled(procs.map((p) => p.done));
    const [a, b] = settled.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    expect([...a!, ...b!].sort((x, y) => x - y)).toEqual(range(80));
    // The two really overlapped: neither got one unbroken block of positions.
    expect(a!.some((seq, i) => i > 0 && seq !== a![i - 1]! + 1)).toBe(true);
    expect(b!.some((seq, i) => i > 0 && seq !== b![i - 1]! + 1)).toBe(true);
    const read = await store.events(sid);
    expect(read.map((e) => e.seq)).toEqual(range(80));
    // Each process's own events are in its own order.
    for (const p of ['pa-', 'pb-']) {
      const mine = read.filter((e) => e.id.startsWith(p)).map((e) => Number(e.id.slice(3)));
      expect(mine).toEqual(range(40).map((i) => i - 1));
    }
  });

  it('sets, unsets and lists opt-outs; an older choice does not undo a newer one', async () => {
    expect(await store.optedOut()).toEqual(new Set());
    await store.setOptOut('u1', true, '2025-01-01T00:00:00.000Z');
    await store.setOptOut('u2', true, '2025-01-01T00:00:00.000Z');
    await store.setOptOut('u3', false, '2025-01-01T00:00:00.000Z');
    expect(await store.optedOut()).toEqual(new Set(['u1', 'u2']));
    await store.setOptOut('u2', false, '2025-01-02T00:00:00.000Z');
    expect(await store.optedOut()).toEqual(new Set(['u1']));
    await store.setOptOut('u2', true, '2025-01-01T12:00:00.000Z'); // a late retry of an older choice
    expect(await store.optedOut()).toEqual(new Set(['u1']));
    await store.setOptOut('u1', false, '2025-01-03T00:00:00.000Z');
    await store.setOptOut('u3', true, '2025-01-03T00:00:00.000Z');
    expect(await store.optedOut()).toEqual(new Set(['u3']));
  });

  it('applies a later migration once, on top of the first', async () => {
    const next: Migration = {
      version: MIGRATIONS.length + 1,
      description: 'test only',
      up: { sqlite: 'CREATE TABLE migration_probe (x INTEGER)', postgres: 'CREATE TABLE migration_probe (x integer)' },
    };
    const a = engine.open([...MIGRATIONS, next]);
    const b = engine.open([...MIGRATIONS, next]);
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await a.migrate();
      const versions = await engine.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.map((r) => Number(r.version))).toEqual([...MIGRATIONS.map((m) => m.version), next.version]);
      expect(await engine.query('SELECT count(*) AS n FROM migration_probe')).toEqual([{ n: engine.name === 'sqlite' ? 0 : '0' }]);
      // Code that knows fewer migrations than the database has refuses to run against it.
      await expect(store.migrate()).rejects.toThrow(/newer than this code knows/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

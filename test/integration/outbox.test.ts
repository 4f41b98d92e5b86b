// The records outbox on the real Redis: events written in the order they were put, each once; a
// store away waited for; an event the store refuses for good set aside without holding up the rest;
// two writers at once losing and repeating nothing; and a database away at start opened later.
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/log.ts';
import { openStores } from '../../core/stores.ts';
import { TRANSCRIPT_FORMAT_VERSION, type TranscriptEvent } from '../../core/transcript/events.ts';
import { createRecordOutbox, startRecordWriter, type RecordWriter } from '../../core/transcript/outbox.ts';
import type { RecordStore } from '../../core/transcript/store.ts';
import { openScratchDatabase } from '../support/scratch-database.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const log = createLogger('test', 'silent');
afterAll(() => redis.quit());

let writers: RecordWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.map((w) => w.close()));
  writers = [];
});

const note = (i: number, text = `message ${i}`): TranscriptEvent => ({ v: TRANSCRIPT_FORMAT_VERSION, id: `e${i}`, sessionId: 's', at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), type: 'notice', text, persona: { personaId: 'p', name: 'P' }, discordMessageId: String(i) });

/** A store in memory that can be away (connection refused) or refuse one event's text for good. */
function memoryStore() {
  const written: string[] = [];
  const state = { away: false, refuse: undefined as string | undefined, failEvery: undefined as Error | undefined };
  const calls = counter();
  const store = {
    async append(e: TranscriptEvent) {
      calls.tick();
      if (state.away) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      if (state.failEvery) throw state.failEvery;
      if (e.type === 'notice' && e.text === state.refuse) throw Object.assign(new Error('value too long for type character varying(10)'), { code: '22001' });
      if (!written.includes(e.id)) written.push(e.id);
      return { inserted: true, seq: written.length };
    },
  } as unknown as RecordStore;
  return { store, written, state, calls };
}

function writer(prefix: string, store: RecordStore, onWritten?: () => void): RecordWriter {
  const w = startRecordWriter({ redis, prefix, outbox: createRecordOutbox(redis, prefix), store: async () => store, log, idleMs: 20, maxBackoffMs: 20, maxRefusals: 3, ...(onWritten ? { onWritten } : {}) });
  writers.push(w);
  return w;
}

/** Resolves after `n` more events are written. */
function counter() {
  let count = 0;
  const waiters: [number, () => void][] = [];
  return {
    tick: () => {
      count += 1;
      for (const [n, resolve] of waiters) if (count >= n) resolve();
    },
    reach: (n: number) => new Promise<void>((resolve) => (count >= n ? resolve() : waiters.push([n, resolve]))),
  };
}

describe('the records outbox', () => {
  it('writes events in the order they were put, waits for a store that is away, and empties its list', async () => {
    const prefix = `outbox-${Date.now().toString(36)}-a`;
    const outbox = createRecordOutbox(redis, prefix);
    const { store, written, state, calls } = memoryStore();
    state.away = true;
    const seen = counter();
    writer(prefix, store, seen.tick);
    await outbox.put(note(1), note(2));
    await outbox.put(note(3));
    // Tried, refused as away, and kept.
    await calls.reach(3);
    expect(written).toEqual([]);
    expect(await outbox.waiting()).toBe(3);
    state.away = false;
    await seen.reach(3);
    expect(written).toEqual(['e1', 'e2', 'e3']);
    expect(await outbox.waiting()).toBe(0);
  });

  it('sets aside an event the store refuses for good, and writes the ones after it', async () => {
    const prefix = `outbox-${Date.now().toString(36)}-b`;
    const outbox = createRecordOutbox(redis, prefix);
    const { store, written, state } = memoryStore();
    state.refuse = 'poison';
    const seen = counter();
    writer(prefix, store, seen.tick);
    await outbox.put(note(1), note(2, 'poison'), note(3));
    await seen.reach(2);
    expect(written).toEqual(['e1', 'e3']);
    expect(await outbox.waiting()).toBe(0);
    const aside = await redis.lrange(`${prefix}:records-outbox:set-aside`, 0, -1);
    expect(aside.map((raw) => (JSON.parse(raw) as TranscriptEvent).id)).toEqual(['e2']);
  });

  it('never sets aside an event when the store fails for every event (read-only after a failover)', async () => {
    const prefix = `outbox-${Date.now().toString(36)}-e`;
    const outbox = createRecordOutbox(redis, prefix);
    const { store, written, state, calls } = memoryStore();
    state.failEvery = Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
    const seen = counter();
    writer(prefix, store, seen.tick);
    await outbox.put(note(1), note(2));
    await outbox.put({ ...note(3), sessionId: 'other' });
    // Tried more often than an event's data may be refused, and nothing set aside.
    await calls.reach(6);
    expect(await redis.llen(`${prefix}:records-outbox:set-aside`)).toBe(0);
    expect([await outbox.waiting(), await outbox.waiting('s'), await outbox.waiting('other')]).toEqual([3, 2, 1]);
    state.failEvery = undefined;
    await seen.reach(3);
    expect(written).toEqual(['e1', 'e2', 'e3']);
  });

  it('two writers at once write every event once, in order', async () => {
    const prefix = `outbox-${Date.now().toString(36)}-c`;
    const outbox = createRecordOutbox(redis, prefix);
    const { store, written } = memoryStore();
    const seen = counter();
    writer(prefix, store, seen.tick);
    writer(prefix, store, seen.tick);
    for (let i = 1; i <= 300; i++) await outbox.put(note(i));
    await seen.reach(300);
    expect(written).toEqual(Array.from({ length: 300 }, (_, i) => `e${i + 1}`));
    expect(await outbox.waiting()).toBe(0);
  });

  it('a database away when a process starts is opened once it is back', async () => {
    const db = await openScratchDatabase('outbox_open');
    const proxy = db.proxy;
    const stores = openStores(loadConfig({ DISCORD_TOKEN: 'x', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', CHORUS_PREFIX: `outbox-${Date.now().toString(36)}-d`, DATABASE_URL: db.url }), [], log);
    try {
      await proxy.down();
      await expect(stores.records).rejects.toThrow();
      await proxy.up();
      const store = await stores.records;
      expect(await store.sessions()).toEqual([]);
    } finally {
      await stores.close();
      await db.close();
    }
  });
});

// `npm run bench`: figures for chorus against the local Redis, the Discord stand-in and local model
// hosts. Prints numbers; asserts nothing. Sizes can be changed with BENCH_* variables.
import Anthropic from '@anthropic-ai/sdk';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { startHarness, type Harness } from '../test/e2e/harness.ts';
import { count429 } from '../local-discord/server.ts';
import { statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startSession } from '../core/interview/sessions.ts';
import type { TranscriptEvent } from '../core/transcript/events.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import type { RecordStore } from '../core/transcript/store.ts';

const LATENCY_MESSAGES = Number(process.env.BENCH_LATENCY_MESSAGES ?? 200);
const FLOOD_MESSAGES = Number(process.env.BENCH_FLOOD_MESSAGES ?? 2000);
const LIMITED_REPLIES = Number(process.env.BENCH_LIMITED_REPLIES ?? 300);
/** Gap between sequential messages: below Discord's limits (two calls a reply, 50 a second). */
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 50);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(2)} ms`;
const line = (text: string) => console.log(text);

/** Sends messages one at a time; returns gateway-receive → model-request times and REST calls. */
async function sequentialReplies(h: Harness, count: number, channelId: string): Promise<{ latencies: number[]; restPerReply: number }> {
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = performance.timeOrigin + performance.now();
    return { text: 'ok' };
  });
  const latencies: number[] = [];
  const before = h.discord.restCalls.length;
  for (let i = 0; i < count; i++) {
    const content = `Opus, message ${i} in ${channelId}`;
    const posted = h.discord.nextMessage((m) => m.webhook_id !== undefined && m.channel_id === channelId);
    await h.discord.userSays({ channelId, content });
    await posted;
    await h.settled();
    // When the gateway received the message, as the job carries it.
    const job = h.outcomes.findLast((o) => o.turn.trigger.content === content)?.job;
    latencies.push(hostAt - (job?.receivedAt ?? NaN));
    await new Promise((r) => setTimeout(r, PACE_MS));
  }
  return { latencies, restPerReply: (h.discord.restCalls.length - before) / count };
}

async function spine(): Promise<void> {
  // As deployed: the worker's Discord calls go through the REST proxy.
  const h = await startHarness({ viaProxy: true });
  const channelId = h.discord.addChannel({ name: 'bench' });
  const cold = await sequentialReplies(h, 1, channelId);
  const warm = await sequentialReplies(h, LATENCY_MESSAGES, channelId);
  await h.close();
  const direct = await directLatency();
  line(`1. gateway receives message → model host receives request (one message every ~${PACE_MS} ms)`);
  line(`   chorus (route, queue, worker, cached history): p50 ${ms(percentile(warm.latencies, 50))}  p99 ${ms(percentile(warm.latencies, 99))}`);
  line(`   direct call, no queue, no history:             p50 ${ms(percentile(direct, 50))}  p99 ${ms(percentile(direct, 99))}`);
  line(`   ratio chorus/direct: p50 ${(percentile(warm.latencies, 50) / percentile(direct, 50)).toFixed(1)}x  p99 ${(percentile(warm.latencies, 99) / percentile(direct, 99)).toFixed(1)}x`);
  line('2. Discord REST calls per reply (streaming off)');
  line(`   warm caches: ${warm.restPerReply.toFixed(2)}   first reply in a new channel: ${cold.restPerReply}`);
}

/** A bare bot that calls the model from its message handler: the floor chorus is compared with. */
async function directLatency(): Promise<number[]> {
  const h = await startHarness({ inProcessWorkers: 0 });
  const client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent], rest: { api: h.discord.restUrl } });
  const sdk = new Anthropic({ apiKey: 'x', baseURL: h.anthropicHost.url, maxRetries: 0 });
  const seenAt = new Map<string, number>();
  client.on(Events.MessageCreate, (m) => {
    if (m.webhookId || !m.content.startsWith('Direct')) return;
    seenAt.set(m.content, performance.now());
    void sdk.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: m.content }] }).then((r) => {
      void client.rest.post(`/channels/${m.channelId}/messages`, { body: { content: r.content.map((b) => (b.type === 'text' ? b.text : '')).join('') } });
    });
  });
  await new Promise<void>((resolve) => {
    client.once(Events.ClientReady, () => resolve());
    void client.login(h.discord.token);
  });
  let hostAt = 0;
  h.anthropicHost.setResponder(() => {
    hostAt = performance.now();
    return { text: 'ok' };
  });
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_MESSAGES; i++) {
    const content = `Direct ${i}`;
    const posted = h.discord.nextMessage((m) => m.author.id === h.discord.botUser.id);
    await h.discord.userSays({ content });
    await posted;
    samples.push(hostAt - (seenAt.get(content) ?? NaN));
  }
  await client.destroy();
  await h.close();
  return samples;
}

/** Messages a second the gateway records, routes and appends, with no workers taking turns. */
async function routingThroughput(extraPersonas: number): Promise<number> {
  const h = await startHarness({ inProcessWorkers: 0, extraPersonas });
  const channels = Array.from({ length: 20 }, (_, i) => h.discord.addChannel({ name: `flood-${i}` }));
  const start = performance.now();
  const sent = [];
  for (let i = 0; i < FLOOD_MESSAGES; i++) sent.push(h.discord.userSays({ channelId: channels[i % channels.length]!, content: `Opus and GPT, flood ${i}` }));
  const ids = (await Promise.all(sent)).map((m) => m.id);
  await Promise.all(ids.map((id) => h.routed(id)));
  const perSecond = FLOOD_MESSAGES / ((performance.now() - start) / 1000);
  await h.gateway.services.replies.queue.obliterate({ force: true });
  await h.close();
  return perSecond;
}

/** Streaming: REST calls per reply and time from the first model token to the first visible text. */
async function streaming(): Promise<void> {
  const h = await startHarness({ env: { STREAM_EDIT_INTERVAL_MS: '200' } });
  const channelId = h.discord.addChannel({ name: 'stream-bench' });
  await sequentialReplies(h, 1, channelId); // warm the channel
  const chunks = Array.from({ length: 20 }, (_, i) => `word${i} `);
  h.anthropicHost.setResponder(() => ({ chunks, chunkDelayMs: 50 })); // ~1 s of generation
  const before = h.discord.restCalls.length;
  const outcomesBefore = h.outcomes.length;
  const replies = 30;
  for (let i = 0; i < replies; i++) {
    await h.discord.userSays({ channelId, content: `Opus, stream ${i}` });
    await h.discord.nextMessage((m) => m.webhook_id !== undefined && m.channel_id === channelId);
    await h.settled();
  }
  const firstVisible = h.outcomes.slice(outcomesBefore).map((o) => ('firstTokenToVisibleMs' in o.outcome ? o.outcome.firstTokenToVisibleMs : undefined) ?? NaN);
  line('4. streaming (edits at most every 200 ms, a reply of 20 tokens over ~1 s)');
  line(`   Discord REST calls per reply: ${((h.discord.restCalls.length - before) / replies).toFixed(2)}`);
  line(`   first model token → first visible text: p50 ${ms(percentile(firstVisible, 50))}  p99 ${ms(percentile(firstVisible, 99))}`);
  await h.close();
}

/** 429s per 1,000 replies when the stand-in enforces Discord's limits, three worker processes behind the proxy. */
async function underLimits(): Promise<void> {
  const h = await startHarness({ inProcessWorkers: 0, enforceRateLimits: true, viaProxy: true, env: { PERSONA_COOLDOWN_SECONDS: '0' } });
  await Promise.all([h.spawnWorker(), h.spawnWorker(), h.spawnWorker()]);
  const channels = Array.from({ length: 10 }, (_, i) => h.discord.addChannel({ name: `limited-${i}` }));
  const names = ['Opus', 'GPT', 'Base'];
  const start = performance.now();
  const ids = [];
  for (let i = 0; i < LIMITED_REPLIES; i++) ids.push((await h.discord.userSays({ channelId: channels[i % channels.length]!, content: `${names[i % names.length]}, hello ${i}` })).id);
  for (const id of ids) await h.routed(id);
  await h.settled();
  const seconds = (performance.now() - start) / 1000;
  const replies = h.discord.messages().filter((m) => m.webhook_id !== undefined).length;
  const limited = count429(h.discord.restCalls);
  line(`5. under Discord's limits (${LIMITED_REPLIES} replies in 10 channels, 3 worker processes, REST proxy)`);
  line(`   replies delivered: ${replies}/${LIMITED_REPLIES} in ${seconds.toFixed(1)} s; 429 answers: ${limited} (${((limited / replies) * 1000).toFixed(1)} per 1,000 replies)`);
  await h.close();
}

/** One round of N personas in each mode, against a host that takes a fixed time per answer. */
async function interviewRounds(): Promise<void> {
  const personasInRound = 4;
  const answerMs = 300;
  const h = await startHarness({ extraPersonas: personasInRound });
  h.anthropicHost.setResponder(() => ({ text: 'A considered answer.', delayMs: answerMs }));
  const store = await h.records();
  const loaded = h.gateway.services.protocols.get('retirement')!;
  const roster = h.personas.filter((p) => p.id.startsWith('extra-'));
  const times: Record<string, number> = {};
  for (const mode of ['sequential', 'blind'] as const) {
    const sessionId = `bench-${mode}-${Date.now()}`;
    await startSession(store, h.gateway.services.interviews, {
      sessionId,
      protocol: loaded,
      personas: roster,
      interviewer: { kind: 'human', name: 'Script' },
      mode,
      autoAdvance: true,
      chorusVersion: 'bench',
      script: ['What would you like us to remember?'],
      now: new Date().toISOString(),
    });
    await h.interviewsSettled();
    const events = await store.events(sessionId);
    const asked = events.find((e) => e.type === 'question');
    const answered = events.flatMap((e) => (e.type === 'answer' ? [Date.parse(e.modelTurn.finishedAt)] : []));
    times[mode] = Math.max(...answered) - Date.parse(asked!.at);
  }
  line(`6. one interview round, ${personasInRound} personas, model host answering in ${answerMs} ms`);
  line(`   sequential: ${ms(times.sequential!)}   blind: ${ms(times.blind!)}   (one answer alone: ${answerMs} ms)`);
  await h.close();
}

/** Database size per 1,000 transcript events of about 1 KB (an answer with its full request). */
async function recordSizes(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-records-'));
  const event = (i: number): TranscriptEvent => ({
    v: 1,
    id: `e${i}`,
    sessionId: 'bench',
    at: new Date(1_800_000_000_000 + i).toISOString(),
    type: 'answer',
    questionId: 'q',
    persona: { personaId: 'opus', name: 'Opus' },
    text: 'An answer of a typical length, a few sentences long. '.repeat(6),
    mode: 'blind',
    saw: [],
    modelTurn: {
      request: { provider: 'anthropic', body: { model: 'claude-opus-test', max_tokens: 1024, system: 'You are Opus.', messages: [{ role: 'user', content: 'Interviewer: What would you like us to remember about you?' }] } },
      requestedModel: 'claude-opus-test',
      answeredModel: 'claude-opus-test',
      host: { label: 'anthropic', provider: 'anthropic', index: 0 },
      fallbacks: [],
      stopReason: 'end_turn',
      usage: { inputTokens: 40, outputTokens: 80 },
      startedAt: new Date(1_800_000_000_000).toISOString(),
      finishedAt: new Date(1_800_000_001_000).toISOString(),
      latencyMs: 1000,
    },
    discordMessageIds: ['1234567890123456789'],
  });
  const fill = async (store: RecordStore) => {
    await store.createSession({ id: 'bench', kind: 'interview', status: 'running', title: 'bench', state: {} });
    for (let i = 0; i < 1000; i++) await store.append(event(i));
  };
  const sqlitePath = join(dir, 'records.sqlite');
  const sqlite = await openRecordStore({ sqlitePath });
  await fill(sqlite);
  await sqlite.close();
  const sqliteBytes = statSync(sqlitePath).size;
  const schema = `bench_${process.pid}`;
  const base = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: base });
  let pgBytes: number | undefined;
  try {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const store = await openRecordStore({ databaseUrl: `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`, sqlitePath });
    await fill(store);
    await store.close();
    const { rows } = await admin.query<{ bytes: string }>(`SELECT pg_total_relation_size('${schema}.events') AS bytes`);
    pgBytes = Number(rows[0]?.bytes);
  } catch (err) {
    line(`   (PostgreSQL not measured: ${(err as Error).message})`);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  line(`7. database size per 1,000 transcript events (~${JSON.stringify(event(0)).length} bytes of JSON each)`);
  line(`   SQLite file: ${kib(sqliteBytes)}   PostgreSQL events table with indexes: ${pgBytes === undefined ? 'n/a' : kib(pgBytes)}`);
}

line(`chorus bench — node ${process.version}; ${LATENCY_MESSAGES} sequential messages; stand-in Discord; model hosts answer at once unless said`);
await spine();
line('3. gateway routing throughput (record + route + append; two personas named per message; 20 channels)');
line(`   4 personas: ${(await routingThroughput(0)).toFixed(0)} messages/s   20+4 personas on the roster: ${(await routingThroughput(20)).toFixed(0)} messages/s`);
await streaming();
await underLimits();
await interviewRounds();
await recordSizes();
process.exit(0);

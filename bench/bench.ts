// `npm run bench`: figures for chorus against the local Redis, the Discord stand-in and local model
// hosts. Prints numbers; asserts nothing. Sizes can be changed with BENCH_* variables.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startHarness } from '../test/e2e/harness.ts';
import { campaigns } from './campaign.ts';
import { measureGatewayMemory } from './gateway-memory.ts';
import { LOAD_HEADER, loadChorus, loadDirect, loadQueueBot, loadRow, workerLimits } from './load.ts';
import { fmtMs, percentile, personaPosts } from './measure.ts';
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
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
const LONG_LOAD_SECONDS = Number(process.env.BENCH_LONG_LOAD_SECONDS ?? 120);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 1000);
/** Gap between sequential messages: below Discord's limits (two calls a reply, 50 a second). */
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 50);

const ms = fmtMs;
const line = (text: string) => console.log(text);

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

/** Streaming at the shipped edit interval: REST calls per reply and first model token → first visible text. */
async function streaming(): Promise<void> {
  const h = await startHarness({ env: { STREAM_EDIT_INTERVAL_MS: '1000' } });
  // Replies spread over channels, each warmed (its webhook made), so every one streams: a channel
  // whose webhooks sent 10 requests in its last minute posts its answers whole (README, Streaming).
  const channels = Array.from({ length: 10 }, (_, i) => h.discord.addChannel({ name: `stream-bench-${i}` }));
  h.anthropicHost.setResponder(() => ({ text: 'warm' }));
  for (const channelId of channels) {
    await h.discord.userSays({ channelId, content: 'Opus, warm up' });
    await h.discord.nextMessage((m) => m.webhook_id !== undefined && m.channel_id === channelId);
    await h.settled();
  }
  const chunks = Array.from({ length: 20 }, (_, i) => `word${i} `);
  h.anthropicHost.setResponder(() => ({ chunks, chunkDelayMs: 50 })); // ~1 s of generation
  const before = h.discord.restCalls.length;
  const outcomesBefore = h.outcomes.length;
  const replies = 20;
  for (let i = 0; i < replies; i++) {
    const channelId = channels[i % channels.length]!;
    await h.discord.userSays({ channelId, content: `Opus, stream ${i}` });
    await h.discord.nextMessage((m) => m.webhook_id !== undefined && m.channel_id === channelId);
    await h.settled();
  }
  const firstVisible = h.outcomes.slice(outcomesBefore).flatMap((o) => ('firstTokenToVisibleMs' in o.outcome && o.outcome.firstTokenToVisibleMs !== undefined ? [o.outcome.firstTokenToVisibleMs] : []));
  line(`streaming: a reply of 20 tokens over ~1 s, edits at most every 1,000 ms (the default); ${firstVisible.length} of ${replies} streamed`);
  line(`   Discord REST calls per reply: ${((h.discord.restCalls.length - before) / replies).toFixed(2)} (target ≤ 4)`);
  line(`   first model token → first visible text: p50 ${ms(percentile(firstVisible, 50))}  p99 ${ms(percentile(firstVisible, 99))} (target ≤ 300 ms)`);
  await h.close();
}

/** Prompt caching over a long conversation with one Anthropic persona whose system prompt is long. */
async function promptCache(turns: number): Promise<void> {
  const system = 'You are Extra1, a patient historian of early language models who answers in two sentences. '.repeat(65);
  const h = await startHarness({ extraPersonas: 1, extraSystemPrompt: system });
  const channelId = h.discord.addChannel({ name: 'cache-bench' });
  h.anthropicHost.resetCacheStats();
  for (let i = 0; i < turns; i++) {
    h.anthropicHost.setResponder(() => ({ text: `Answer ${i}: ${'they spoke in long and careful paragraphs, '.repeat(4)}` }));
    const reply = h.discord.nextMessage((m) => m.channel_id === channelId && m.author.username === 'Extra1');
    await h.discord.userSays({ channelId, content: `Extra1, question ${i}: ${'what did they say about the weather, and the sea? '.repeat(4)}` });
    await reply;
    await h.settled();
  }
  const c = h.anthropicHost.cacheStats().anthropic;
  const input = c.readTokens + c.writeTokens + c.uncachedInputTokens;
  // Anthropic bills cache reads at 0.1× and 5-minute writes at 1.25× the input price.
  const billed = c.uncachedInputTokens + 1.25 * c.writeTokens + 0.1 * c.readTokens;
  line(`prompt caching: ${turns} turns with one Anthropic persona (system prompt ~1,500 tokens, history of ${h.config.HISTORY_MESSAGES} messages)`);
  line(`   requests reading from cache: ${c.reads}/${c.requests}; input tokens read from cache: ${c.readTokens} of ${input} (${((100 * c.readTokens) / input).toFixed(0)}%)`);
  line(`   input billed as ${billed.toFixed(0)} token-equivalents instead of ${input}: ${(100 - (100 * billed) / input).toFixed(0)}% saved`);
  await h.close();
}

/**
 * 429s per 1,000 replies when the stand-in enforces Discord's limits, three worker processes
 * sharing the limit as they do by default (the Redis gate), or behind chorus's REST proxy.
 */
async function underLimits(viaProxy: boolean): Promise<void> {
  const h = await startHarness({ inProcessWorkers: 0, enforceRateLimits: true, viaProxy, env: { PERSONA_COOLDOWN_SECONDS: '0' } });
  await Promise.all([h.spawnWorker(), h.spawnWorker(), h.spawnWorker()]);
  const channels = Array.from({ length: 10 }, (_, i) => h.discord.addChannel({ name: `limited-${i}` }));
  const names = ['Opus', 'GPT', 'Base'];
  const start = performance.now();
  const ids = [];
  for (let i = 0; i < LIMITED_REPLIES; i++) ids.push((await h.discord.userSays({ channelId: channels[i % channels.length]!, content: `${names[i % names.length]}, hello ${i}` })).id);
  for (const id of ids) await h.routed(id);
  await h.settled();
  const seconds = (performance.now() - start) / 1000;
  const posts = personaPosts(h.discord.messages(), h.discord.botUser.id);
  const replies = posts.length;
  const byBot = posts.filter((m) => m.webhook_id === undefined).length;
  const limited = count429(h.discord.restCalls);
  line(`   ${LIMITED_REPLIES} replies in 10 channels, 3 worker processes, ${viaProxy ? 'behind the REST proxy' : 'sharing the limit in Redis (the default)'}`);
  line(`   replies delivered: ${replies}/${LIMITED_REPLIES} in ${seconds.toFixed(1)} s (${byBot} posted by the bot under a persona's name); 429 answers: ${limited} (${((limited / replies) * 1000).toFixed(1)} per 1,000 replies)`);
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
  line(`   one interview round, ${personasInRound} personas, model host answering in ${answerMs} ms`);
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
  line(`   database size per 1,000 transcript events (~${JSON.stringify(event(0)).length} bytes of JSON each)`);
  line(`   SQLite file: ${kib(sqliteBytes)}   PostgreSQL events table with indexes: ${pgBytes === undefined ? 'n/a' : kib(pgBytes)}`);
}

/** BENCH_SECTIONS=2,7 runs only those sections (all by default). */
const onlySections = process.env.BENCH_SECTIONS?.split(',').map((n) => n.trim());
const section = (title: string): boolean => {
  if (onlySections && !onlySections.includes(title.split('.')[0]!)) return false;
  line(`\n== ${title}`);
  return true;
};
line(`chorus bench — node ${process.version}, ${cpus().length} cores; stand-in Discord and model hosts on loopback; figures vary run to run: compare within a run`);

if (section('1. overhead: gateway receives a message → the model host has the request (instant host, one message at a time)')) {
  // In a process of its own, which holds only what it measures: in this one, with every other
  // section's modules loaded too, chorus's two worst samples of 200 were 20–40 ms (p99) where a
  // process holding only this section's measured 11–14 ms; the p50 did not move.
  const child = spawn(process.execPath, [fileURLToPath(new URL('./overhead.ts', import.meta.url))], { env: { ...process.env, BENCH_LATENCY_MESSAGES: String(LATENCY_MESSAGES), BENCH_PACE_MS: String(PACE_MS) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`bench/overhead.ts exited with ${code}`);
  for (const l of out.trimEnd().split('\n')) line(l);
}

if (section(`2. load: chorus (a gateway and a worker process, defaults) beside a bare BullMQ bot (queue: the same split, none of chorus's work) and a direct-call bot, Discord's limits on, ${LOAD_SECONDS} s each`)) {
  for (const spec of [
    { channels: 20, perChannel: 0.5, seconds: LOAD_SECONDS, hostDelayMs: 2000 },
    { channels: 10, perChannel: 2, seconds: LOAD_SECONDS, hostDelayMs: 0 },
    { channels: 40, perChannel: 0.5, seconds: LOAD_SECONDS, hostDelayMs: 0 },
    { channels: 20, perChannel: 0.5, seconds: LOAD_SECONDS, hostDelayMs: 1000, streamMs: 2000 },
  ]) {
    line(spec.streamMs
      ? `   ${spec.channels} channels × ${spec.perChannel} messages/s, host streams: first words after ${spec.hostDelayMs / 1000} s, 20 words over ${spec.streamMs / 1000} s (visible: chorus's first words, the bare bots' whole answer)`
      : `   ${spec.channels} channels × ${spec.perChannel} messages/s, host answers in ${spec.hostDelayMs / 1000} s`);
    line(`   ${LOAD_HEADER}`);
    const chorus = await loadChorus(spec);
    line(`   ${loadRow('chorus', chorus)}`);
    const queued = await loadQueueBot(spec);
    line(`   ${loadRow('queue', queued)}`);
    const direct = await loadDirect(spec);
    line(`   ${loadRow('direct', direct)}`);
    line(`   added in steady state (after the first 5 s), p50 / p99: chorus ${ms(chorus.addedSteady.p50)} / ${ms(chorus.addedSteady.p99)}, bare BullMQ bot ${ms(queued.addedSteady.p50)} / ${ms(queued.addedSteady.p99)}, direct ${ms(direct.addedSteady.p50)} / ${ms(direct.addedSteady.p99)}`);
    // The target is for a model that takes seconds; with an instant one, the bare bots' one bot-token
    // post per reply meets Discord's per-channel limit (5 in 5 s) at 2 messages/s, and their replies queue.
    if (spec.hostDelayMs > 0 && !spec.streamMs) line(`   visible p99 chorus/direct: ${(chorus.visible.p99 / direct.visible.p99).toFixed(2)}× (target ≤ 1.2×)`);
    line(`   warm-up: messages in the first 5 s: chorus added p99 ${ms(chorus.addedFirst5s.p99)} (max ${ms(chorus.addedFirst5s.max)}), direct ${ms(direct.addedFirst5s.p99)}; after: chorus p50 ${ms(chorus.addedSteady.p50)} p99 ${ms(chorus.addedSteady.p99)}, direct p50 ${ms(direct.addedSteady.p50)} p99 ${ms(direct.addedSteady.p99)}`);
  }
  // Past a minute: at 0.5 messages/s a channel's answers are 30 a minute, all Discord takes from
  // webhooks into one channel, so jitter takes it past the limit now and then (see ARCHITECTURE.md).
  const long = { channels: 20, perChannel: 0.5, seconds: LONG_LOAD_SECONDS, hostDelayMs: 2000 };
  line(`   the first row for ${LONG_LOAD_SECONDS} s: 20 channels × 0.5 messages/s, host answers in 2 s`);
  line(`   ${LOAD_HEADER}`);
  const chorusLong = await loadChorus(long);
  line(`   ${loadRow('chorus', chorusLong)}`);
  const directLong = await loadDirect(long);
  line(`   ${loadRow('direct', directLong)}`);
  line(`   visible p99 chorus/direct: ${(chorusLong.visible.p99 / directLong.visible.p99).toFixed(2)}× (target ≤ 1.2×); answers chorus's bot posted under a persona's name: ${chorusLong.answeredByBot}`);
  // A model that thinks for 30 s: at 10 messages a second, 300 replies are in flight at once.
  const slow = { channels: 20, perChannel: 0.5, seconds: 40, hostDelayMs: 30_000 };
  line(`   20 channels × 0.5 messages/s for 40 s, host answers in 30 s (300 replies in flight)`);
  line(`   ${LOAD_HEADER}`);
  const chorusSlow = await loadChorus(slow);
  line(`   ${loadRow('chorus', chorusSlow)}`);
  const directSlow = await loadDirect(slow);
  line(`   ${loadRow('direct', directSlow)}`);
  line(`   visible p99 chorus/direct: ${(chorusSlow.visible.p99 / directSlow.visible.p99).toFixed(2)}× (target ≤ 1.2×)`);
  // Many channels new to chorus at once: each needs its first webhook (two bot requests) beside the
  // typing indicators, in the bot's 50 a second; at 100 channels the answers alone are 50 a second,
  // all Discord takes at one address from webhooks (and from the direct bot's token). Streamed, 80
  // channels' answers would cost more webhook requests than that: chorus posts them whole then.
  for (const { channels, streamMs } of [{ channels: 80 }, { channels: 100 }, { channels: 80, streamMs: 2000 }]) {
    const spec = { channels, perChannel: 0.5, seconds: LOAD_SECONDS, hostDelayMs: streamMs ? 1000 : 2000, ...(streamMs ? { streamMs } : {}) };
    line(streamMs
      ? `   ${channels} new channels × 0.5 messages/s (${channels / 2} a second), host streams: first words after 1 s, 20 words over ${streamMs / 1000} s`
      : `   ${channels} new channels × 0.5 messages/s (${channels / 2} a second), host answers in 2 s`);
    line(`   ${LOAD_HEADER}`);
    const chorus = await loadChorus(spec);
    line(`   ${loadRow('chorus', chorus)}`);
    const direct = await loadDirect(spec);
    line(`   ${loadRow('direct', direct)}`);
    line(`   visible p99 chorus/direct: ${(chorus.visible.p99 / direct.visible.p99).toFixed(2)}×; messages said in the first 5 s: chorus visible p99 ${(chorus.visibleFirst5s.p99 / 1000).toFixed(2)} s, direct ${(direct.visibleFirst5s.p99 / 1000).toFixed(2)} s`);
  }
  const w = await workerLimits(IN_FLIGHT);
  line(`   one worker: RSS idle ${w.idleMb.toFixed(0)} MiB, with ${IN_FLIGHT} generations in flight ${w.busyMb.toFixed(0)} MiB (~${w.perGenerationKb.toFixed(0)} KiB each); Redis connections: gateway ${w.connections.gateway}, worker ${w.connections.worker}`);
  line(`   Redis keeps per finished reply: its ledger entry ${w.redisPerReply.ledger.toFixed(0)} B (a week), which persona posted it ${w.redisPerReply.post.toFixed(0)} B (POST_MEMORY_DAYS), its finished job ${w.redisPerReply.job.toFixed(0)} B (a day)`);
}

if (section('3. gateway memory: 1,000 guilds × 10 channels, 20,000 messages, beside a discord.js client with default caches')) {
  const g = await measureGatewayMemory({ guilds: 1000, channelsPerGuild: 10, messages: 20_000 });
  line(`   chorus gateway RSS ${g.chorusRssMb.toFixed(0)} MiB (peak ${g.chorusPeakMb.toFixed(0)}), discord.js ${g.discordjsRssMb.toFixed(0)} MiB (peak ${g.discordjsPeakMb.toFixed(0)}): ${(g.chorusRssMb / g.discordjsRssMb).toFixed(2)}× (target ≤ 0.5×)`);
  line(`   chorus routed all ${g.messages} in ${g.chorusSeconds.toFixed(1)} s (${(g.messages / g.chorusSeconds).toFixed(0)}/s); ${g.guilds} guilds handled ${g.chorusReadySeconds.toFixed(1)} s after start`);
}

if (section('4. streaming')) await streaming();

if (section('5. prompt caching')) await promptCache(50);

if (section('6. gateway routing throughput (record + route + queue; two personas named per message; 20 channels)'))
  line(`   4 personas: ${(await routingThroughput(0)).toFixed(0)} messages/s   20+4 personas on the roster: ${(await routingThroughput(20)).toFixed(0)} messages/s`);

if (section('7. under Discord\'s limits')) {
  await underLimits(false);
  await underLimits(true);
}

if (section('8. interviews')) await interviewRounds();

if (section('9. records')) await recordSizes();

if (section('10. research campaigns')) await campaigns();
process.exit(0);

// Headless interview campaigns, without Discord, through the same queue and workers:
//
//   npm run interview -- --campaign campaigns/study.yaml          (a campaign file: core/campaign.ts)
//   npm run interview -- --protocol ID --personas a,b [--interviewers protocol,script,x] [--repeats N]
//        [--mode blind|sequential] [--group] [--judges a,b|none] [--out DIR] [--workers N] [--campaign ID]
//
// Every cell (personas × interviewers × disclosure depth × auditor stance × repeats) is one session;
// each transcript is written when its session has ended and its answers are judged, then an index.
// Run the same command again after an interruption: finished sessions are kept, unfinished ones
// resume from their records. Nothing starts unless every persona it needs can be reached and Redis
// answers.
//
// Re-runs: `--rerun SESSION_ID [--personas a,b] [--temperature T]` replays a session's questions
// (follow-ups included) to other personas or parameters (never to one that declined or withdrew),
// and writes both transcripts and a side-by-side comparison. Judging afterwards:
// `--judge SESSION_ID[,…] [--judges a,b]` scores the answers of recorded sessions.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { campaignJudges, campaignProblems, expandCampaign, parseCampaign, reachProblems, withStance, type Campaign, type Cell } from '../core/campaign.ts';
import { ConfigError, loadConfig } from '../core/config.ts';
import { loadDotEnv, readCommandLine, redisProblem } from '../core/startup.ts';
import { notToBeAskedAgain } from '../core/interview/consent.ts';
import { advance, auditorInterviewer, createInterviewQueues, judgingLeft, queueJudging, startSession, type SessionState } from '../core/interview/sessions.ts';
import type { Judging } from '../core/interview/judging.ts';
import { replayableQuestions } from '../core/interview/plan.ts';
import { createLogger } from '../core/log.ts';
import { sha256, type EventOf, type Interviewer } from '../core/transcript/events.ts';
import { describeRefusals, sideBySide, writeCampaignIndex, writeSessionExports } from '../core/transcript/dataset.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import { loadProtocols, parseProtocol, protocolPersonaIds, type LoadedProtocol } from '../protocols/schema.ts';
import { loadPersonas } from '../personas/load.ts';
import { startWorker } from '../workers/worker.ts';
import { chorusVersion } from '../core/version.ts';

const USAGE = 'usage: npm run interview -- --protocol ID --personas a,b [--interviewers …] [--repeats N] [--out DIR], or --campaign FILE, --rerun SESSION_ID, --judge SESSION_ID (see the README)';
const { values: args } = readCommandLine('interview', USAGE, {
  options: {
    protocol: { type: 'string' },
    personas: { type: 'string' },
    interviewers: { type: 'string' },
    repeats: { type: 'string', default: '1' },
    mode: { type: 'string' },
    group: { type: 'boolean', default: false },
    judges: { type: 'string' },
    out: { type: 'string' },
    workers: { type: 'string' },
    campaign: { type: 'string' },
    rerun: { type: 'string' },
    judge: { type: 'string' },
    temperature: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`interview: ${message}`);
  process.exit(2);
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

loadDotEnv();
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ ...process.env, DISCORD_TOKEN: process.env.DISCORD_TOKEN || 'headless' }); // headless runs need no Discord token
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}
const log = createLogger('interview', config.LOG_LEVEL);
const [protocols, personas] = await Promise.all([loadProtocols(config.PROTOCOLS_DIR), loadPersonas(config.PERSONAS_DIR)]).catch((err: Error) => fail(err.message));
const byId = new Map(personas.map((p) => [p.id, p]));
const protocolNamed = (id: string | undefined) => protocols.get(id ?? '') ?? fail(`--protocol must be one of: ${[...protocols.keys()].join(', ')}`);
const judgesOption = args.judges === undefined ? true : args.judges === 'none' ? false : list(args.judges);

/** A campaign from its file (`--campaign file.yaml`) or from the flags. */
function campaignToRun(): { spec: Campaign; loaded: LoadedProtocol } {
  const file = args.campaign && (/\.ya?ml$/.test(args.campaign) || existsSync(args.campaign)) ? args.campaign : undefined;
  if (file) {
    if (!existsSync(file)) fail(`no campaign file ${file}`);
    const spec = (() => {
      try {
        return parseCampaign(file, readFileSync(file, 'utf8'));
      } catch (err) {
        return fail((err as Error).message);
      }
    })();
    return { spec, loaded: protocolNamed(spec.protocol) };
  }
  const loaded = protocolNamed(args.protocol);
  const repeats = Number(args.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) fail('--repeats must be a whole number from 1');
  if (args.mode && args.mode !== 'sequential' && args.mode !== 'blind') fail('--mode must be sequential or blind');
  const subjects = list(args.personas ?? fail('--personas is required'));
  const interviewers = list(args.interviewers ?? 'protocol');
  const mode = args.mode as Campaign['mode'];
  // The id a campaign of these flags always had (so an interrupted one resumes), --judges apart.
  const key = ['', loaded.protocol.id, sha256(loaded.text), subjects, interviewers, repeats, mode ?? loaded.protocol.mode, args.group, '', ...(args.judges === undefined ? [] : [args.judges])];
  const id = args.campaign ?? `c${sha256(JSON.stringify(key)).slice(0, 10)}`;
  return { spec: { id, protocol: loaded.protocol.id, personas: subjects, interviewers, repeats, group: args.group ?? false, judges: judgesOption, ...(mode ? { mode } : {}) }, loaded };
}

/** The session each cell is, started unless it exists. */
function cellSession(spec: Campaign, loaded: LoadedProtocol, c: Cell) {
  const { protocol } = loaded;
  let interviewer: Interviewer = { kind: 'human', name: 'Script', automated: 'script' };
  if (c.interviewer.kind === 'auditor') {
    const auditor = auditorInterviewer(byId.get(c.interviewer.personaId)!, protocol);
    interviewer = auditor.kind === 'auditor' ? { ...auditor, instructions: withStance(auditor.instructions, c.stance) } : auditor;
  }
  const judges = campaignJudges(spec, protocol);
  return {
    sessionId: `${spec.id}-${c.cell}-${c.repeat}`.replace(/[^a-zA-Z0-9_.-]/g, '_'),
    protocol: loaded,
    personas: c.subjects.map((id) => byId.get(id)!),
    interviewer,
    mode: spec.mode ?? protocol.mode,
    autoAdvance: true,
    chorusVersion,
    campaign: { id: spec.id, cell: c.cell, repeat: c.repeat, conditions: c.conditions },
    ...(c.disclosure ? { disclosure: { text: c.disclosure.text ?? protocol.disclosure.text, toModels: c.disclosure.toModels ?? protocol.disclosure.toModels } } : {}),
    judging: protocol.judging && judges.length ? ({ ...protocol.judging, judges } satisfies Judging) : (false as const),
  };
}

// What this run does: a re-run, judging recorded sessions, or a campaign.
const store = await openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
type Start = Parameters<typeof startSession>[2];
let campaignId: string;
let starts: Omit<Start, 'now'>[] = [];
let toJudge: { sessionId: string; judging: Judging }[] = [];
let workerCount = Number(args.workers ?? 2);
let original: Awaited<ReturnType<typeof store.events>> | undefined;
let needed: { id: string; role: string }[] = [];

if (args.rerun) {
  original = await store.events(args.rerun);
  const header = original.find((e): e is EventOf<'session_started'> => e.type === 'session_started') ?? fail(`no recorded session "${args.rerun}"`);
  const loaded = protocolNamed(header.protocol?.id);
  if (header.protocol && header.protocol.sha256 !== sha256(loaded.text)) log.warn({ protocol: loaded.protocol.id }, 'the protocol file changed since the original session; its questions are replayed as recorded');
  const refused = notToBeAskedAgain(original);
  const wanted = list(args.personas ?? header.roster.map((r) => r.personaId).join(','));
  for (const id of wanted.filter((x) => refused.has(x))) console.error(`interview: ${id} declined or withdrew in ${args.rerun}; it is not asked again`);
  const subjects = wanted.filter((id) => !refused.has(id)).map((id) => byId.get(id) ?? fail(`unknown persona "${id}"`));
  if (!subjects.length) fail('no persona left to re-run with');
  const temperature = args.temperature === undefined ? undefined : Number(args.temperature);
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) fail('--temperature must be a number from 0 to 2');
  campaignId = args.campaign ?? `c${sha256(JSON.stringify([args.rerun, subjects.map((p) => p.id), temperature ?? ''])).slice(0, 10)}`;
  needed = [...subjects.map((p) => ({ id: p.id, role: 'interviewed' })), ...protocolPersonaIds(loaded.protocol).filter((x) => x.field !== 'interviewer.persona').map((x) => ({ id: x.id, role: x.field }))];
  starts = [
    {
      sessionId: `${campaignId}-rerun-1`,
      protocol: loaded,
      personas: subjects,
      interviewer: { kind: 'human', name: `Replay of ${args.rerun}`, automated: 'replay' },
      mode: header.mode ?? loaded.protocol.mode,
      autoAdvance: true,
      chorusVersion,
      campaign: { id: campaignId, cell: 'rerun', repeat: 1 },
      rerunOf: { sessionId: header.sessionId, changes: [args.personas ? `personas ${args.personas}` : '', temperature === undefined ? '' : `temperature ${temperature}`].filter(Boolean).join('; ') || 'none' },
      script: replayableQuestions(original, await store.optedOut()),
      ...(temperature === undefined ? {} : { overrides: { temperature } }),
    },
  ];
} else if (args.judge) {
  campaignId = args.campaign ?? `judged-${sha256(args.judge).slice(0, 8)}`;
  for (const sessionId of list(args.judge)) {
    const header = (await store.events(sessionId)).find((e): e is EventOf<'session_started'> => e.type === 'session_started') ?? fail(`no recorded session "${sessionId}"`);
    const declared = header.protocol ? parseProtocol(header.protocol.id, header.protocol.text).judging : undefined;
    if (!declared) fail(`the protocol of ${sessionId} declares no judging dimensions`);
    const judging = { ...declared, judges: Array.isArray(judgesOption) ? judgesOption : declared.judges };
    toJudge.push({ sessionId, judging });
    needed.push(...judging.judges.map((id) => ({ id, role: 'judge' })));
  }
} else {
  const { spec, loaded } = campaignToRun();
  const problems = campaignProblems(spec, loaded.protocol, personas, process.env);
  if (problems.length) fail(`campaign ${spec.id} cannot start:\n  ${problems.join('\n  ')}`);
  campaignId = spec.id;
  workerCount = Number(args.workers ?? spec.workers ?? 2);
  starts = expandCampaign(spec, loaded.protocol).map((c) => cellSession(spec, loaded, c));
  // Sessions recorded before the campaign asked for judges are judged now, as a campaign step.
  const judging = starts[0]?.judging;
  if (judging) for (const s of starts) toJudge.push({ sessionId: s.sessionId, judging });
}
const unreachable = reachProblems(needed, personas, process.env);
if (unreachable.length) fail(`cannot start:\n  ${unreachable.join('\n  ')}`);
const redisDown = await redisProblem(config.REDIS_URL);
if (redisDown) fail(redisDown);

const outDir = args.out ?? join('data', 'campaigns', campaignId);
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const queues = createInterviewQueues(redis, config.CHORUS_PREFIX, { attempts: config.REPLY_ATTEMPTS, backoffMs: config.RETRY_BACKOFF_MS });
const workers = Array.from({ length: workerCount }, () => startWorker(config, personas, process.env, log, { records: store, headless: true }));

const sessionIds: string[] = [];
for (const s of starts) {
  sessionIds.push(s.sessionId);
  const existing = await store.session(s.sessionId);
  if (existing?.status === 'ended') continue;
  if (existing) await advance(queues, s.sessionId, `resume-${Date.now()}`); // pick up where the records stop
  else await startSession(store, queues, { ...s, now: new Date().toISOString() });
}
// Judging as a step of its own: an ended session whose answers still wait for judges.
for (const { sessionId, judging } of toJudge) {
  const session = await store.session(sessionId);
  if (session?.status !== 'ended') continue;
  const state = session.state as unknown as SessionState;
  if (JSON.stringify(state.judging) !== JSON.stringify(judging)) await store.updateSession(sessionId, { state: { ...session.state, judging } });
  await queueJudging(queues, sessionId, judgingLeft(await store.events(sessionId), { ...state, judging }));
  if (!sessionIds.includes(sessionId)) sessionIds.push(sessionId);
}
console.log(`campaign ${campaignId}: ${sessionIds.length} sessions, writing to ${outDir}`);

// Wait for every session to end and be judged, writing each transcript as soon as it is.
await mkdir(outDir, { recursive: true });
const written = new Set<string>();
while (written.size < sessionIds.length) {
  for (const id of sessionIds) {
    if (written.has(id)) continue;
    const session = await store.session(id);
    if (session?.status !== 'ended') continue;
    const events = await store.events(id);
    if (judgingLeft(events, session.state as unknown as SessionState).length) continue;
    const { refused } = await writeSessionExports(outDir, id, events, await store.optedOut());
    if (refused.length) console.error(`session ${id}: ${describeRefusals(refused)}`);
    written.add(id);
    console.log(`session ${id} ended (${written.size}/${sessionIds.length})`);
  }
  if (written.size < sessionIds.length) await new Promise((r) => setTimeout(r, 200));
}
await writeCampaignIndex(outDir, campaignId, await Promise.all(sessionIds.map(async (id) => ({ session: (await store.session(id))!, events: await store.events(id) }))));
if (args.rerun && original) {
  const optedOut = await store.optedOut();
  const { refused } = await writeSessionExports(outDir, args.rerun, original, optedOut);
  if (refused.length) console.error(`session ${args.rerun}: ${describeRefusals(refused)}`);
  const compared = join(outDir, `${args.rerun}.vs.${sessionIds[0]}.md`);
  await writeFile(compared, sideBySide(original, await store.events(sessionIds[0]!), optedOut));
  console.log(`compared with ${args.rerun}: ${compared}`);
}
console.log(`campaign ${campaignId}: done. Its table: npm run report -- ${campaignId}`);
await Promise.all(workers.map((w) => w.close()));
await queues.close();
await redis.quit();
await store.close();

// Headless interview campaigns: `npm run interview -- --protocol ID --personas a,b --interviewers x,y
// --repeats N [--mode blind|sequential] [--group] [--out DIR] [--workers N] [--campaign ID]`.
// Runs every cell of personas × interviewers × repeats through the same queue and workers as
// Discord sessions, then writes one transcript per session and an index. Run the same command
// again after an interruption: finished sessions are kept, unfinished ones resume from their records.
//
// Re-runs: `npm run interview -- --rerun SESSION_ID [--personas a,b] [--temperature T] [--out DIR]`
// replays a finished session's questions (follow-ups included) against other personas or
// parameters, and writes both transcripts and a side-by-side comparison.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config.ts';
import { loadDotEnv } from '../core/startup.ts';
import { advance, auditorInterviewer, createInterviewQueues, startSession } from '../core/interview/sessions.ts';
import { replayableQuestions } from '../core/interview/plan.ts';
import { createLogger } from '../core/log.ts';
import { sha256, type Interviewer } from '../core/transcript/events.ts';
import { sideBySide, writeCampaignIndex, writeSessionExports } from '../core/transcript/dataset.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import { loadProtocols } from '../protocols/schema.ts';
import { loadPersonas } from '../personas/load.ts';
import { startWorker } from '../workers/worker.ts';
import { chorusVersion } from '../core/version.ts';

const { values: args } = parseArgs({
  options: {
    protocol: { type: 'string' },
    personas: { type: 'string' },
    interviewers: { type: 'string', default: 'script' },
    repeats: { type: 'string', default: '1' },
    mode: { type: 'string' },
    group: { type: 'boolean', default: false },
    out: { type: 'string' },
    workers: { type: 'string', default: '2' },
    campaign: { type: 'string' },
    rerun: { type: 'string' },
    temperature: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`interview: ${message}`);
  process.exit(2);
}

loadDotEnv();
// Headless campaigns need no Discord token.
const config = loadConfig({ DISCORD_TOKEN: 'headless', ...process.env });
const log = createLogger('interview', config.LOG_LEVEL);
const protocols = await loadProtocols(config.PROTOCOLS_DIR);
const personas = await loadPersonas(config.PERSONAS_DIR);
const store = await openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
const original = args.rerun ? await store.events(args.rerun) : undefined;
const originalHeader = original?.find((e) => e.type === 'session_started');
if (args.rerun && originalHeader?.type !== 'session_started') fail(`no recorded session "${args.rerun}"`);
const rerunOf = originalHeader?.type === 'session_started' ? originalHeader : undefined;
const loaded = protocols.get(rerunOf?.protocol?.id ?? args.protocol ?? '') ?? fail(`--protocol must be one of: ${[...protocols.keys()].join(', ')}`);
if (rerunOf?.protocol && rerunOf.protocol.sha256 !== sha256(loaded.text)) log.warn({ protocol: loaded.protocol.id }, 'the protocol file changed since the original session; its questions are replayed as recorded');
const byId = new Map(personas.map((p) => [p.id, p]));
const pick = (ids: string) => ids.split(',').map((id) => byId.get(id.trim()) ?? fail(`unknown persona "${id}"`));
const subjects = pick(args.personas ?? (rerunOf ? rerunOf.roster.map((r) => r.personaId).join(',') : fail('--personas is required')));
const temperature = args.temperature === undefined ? undefined : Number(args.temperature);
if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) fail('--temperature must be a number from 0 to 2');
const interviewerIds = (args.interviewers ?? 'script').split(',').map((s) => s.trim());
const repeats = Number(args.repeats);
if (!Number.isInteger(repeats) || repeats < 1) fail('--repeats must be a whole number from 1');
const mode = (args.mode ?? rerunOf?.mode ?? loaded.protocol.mode) as 'sequential' | 'blind';
if (mode !== 'sequential' && mode !== 'blind') fail('--mode must be sequential or blind');

const campaignId = args.campaign ?? `c${sha256(JSON.stringify([args.rerun ?? '', loaded.protocol.id, sha256(loaded.text), subjects.map((p) => p.id), interviewerIds, repeats, mode, args.group, temperature ?? ''])).slice(0, 10)}`;
const outDir = args.out ?? join('data', 'campaigns', campaignId);

function interviewerFor(id: string): Interviewer {
  if (id === 'script') return { kind: 'human', name: 'Script' };
  return auditorInterviewer(byId.get(id) ?? fail(`unknown interviewer "${id}" (a persona id, or "script")`), loaded.protocol);
}

// A re-run is one session replaying the original's questions; a campaign is a matrix of cells.
const cells = rerunOf
  ? [{ interviewer: 'replay', repeat: 1, subjects, cell: 'rerun' }]
  : interviewerIds.flatMap((interviewer) =>
  Array.from({ length: repeats }, (_, r) => r + 1).flatMap((repeat) =>
    args.group
      ? [{ interviewer, repeat, subjects, cell: `${interviewer}.all` }]
      : subjects.map((s) => ({ interviewer, repeat, subjects: [s], cell: `${interviewer}.${s.id}` })),
  ),
  );
const replayScript = original ? replayableQuestions(original, await store.optedOut()) : undefined;

const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const queues = createInterviewQueues(redis, config.CHORUS_PREFIX, { attempts: config.REPLY_ATTEMPTS, backoffMs: config.RETRY_BACKOFF_MS });
const workers = Array.from({ length: Number(args.workers) }, () => startWorker(config, personas, process.env, log, { records: store, headless: true }));

const sessionIds: string[] = [];
for (const c of cells) {
  const sessionId = `${campaignId}-${c.cell}-${c.repeat}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
  sessionIds.push(sessionId);
  const existing = await store.session(sessionId);
  if (existing?.status === 'ended') continue;
  if (existing) {
    await advance(queues, sessionId, `resume-${Date.now()}`); // pick up where the records stop
    continue;
  }
  await startSession(store, queues, {
    sessionId,
    protocol: loaded,
    personas: c.subjects,
    interviewer: c.interviewer === 'replay' ? { kind: 'human', name: `Replay of ${args.rerun}` } : interviewerFor(c.interviewer),
    mode,
    autoAdvance: true,
    chorusVersion,
    campaign: { id: campaignId, cell: c.cell, repeat: c.repeat },
    ...(rerunOf && replayScript
      ? { rerunOf: { sessionId: rerunOf.sessionId, changes: [args.personas ? `personas ${args.personas}` : '', temperature === undefined ? '' : `temperature ${temperature}`].filter(Boolean).join('; ') || 'none' }, script: replayScript }
      : {}),
    ...(temperature === undefined ? {} : { overrides: { temperature } }),
    now: new Date().toISOString(),
  });
}
console.log(`campaign ${campaignId}: ${sessionIds.length} sessions, writing to ${outDir}`);

// Wait for every session to end, writing each transcript as soon as it does.
await mkdir(outDir, { recursive: true });
const written = new Set<string>();
while (written.size < sessionIds.length) {
  for (const id of sessionIds) {
    if (written.has(id)) continue;
    const session = await store.session(id);
    if (session?.status !== 'ended') continue;
    await writeSessionExports(outDir, id, await store.events(id), await store.optedOut());
    written.add(id);
    console.log(`session ${id} ended (${written.size}/${sessionIds.length})`);
  }
  if (written.size < sessionIds.length) await new Promise((r) => setTimeout(r, 200));
}
await writeCampaignIndex(outDir, campaignId, await Promise.all(sessionIds.map(async (id) => ({ session: (await store.session(id))!, events: await store.events(id) }))));
if (rerunOf && original) {
  const optedOut = await store.optedOut();
  await writeSessionExports(outDir, rerunOf.sessionId, original, optedOut);
  await writeFile(join(outDir, `${rerunOf.sessionId}.vs.${sessionIds[0]}.md`), sideBySide(original, await store.events(sessionIds[0]!), optedOut));
  console.log(`compared with ${rerunOf.sessionId}: ${join(outDir, `${rerunOf.sessionId}.vs.${sessionIds[0]}.md`)}`);
}
console.log(`campaign ${campaignId}: done`);
await Promise.all(workers.map((w) => w.close()));
await queues.close();
await redis.quit();
await store.close();

// `npm run report -- <campaign id | campaign folder> [--out DIR]`: the campaign's table per model
// version (release order) — mean, sd and n per judged dimension, consent rate, topic coverage — as
// Markdown and CSV, and one SVG chart per dimension. Reads the records (or, given a folder, its
// JSONL transcripts); writes to DIR (default data/campaigns/<id>/report).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../core/config.ts';
import { buildReport, chartSpec, reportCsv, reportMarkdown } from '../core/report.ts';
import { renderSvg } from '../core/report-chart.ts';
import { loadDotEnv, readCommandLine } from '../core/startup.ts';
import type { TranscriptEvent } from '../core/transcript/events.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';

const USAGE = 'usage: npm run report -- <campaign id | campaign folder> [--out DIR]';
const { values: args, positionals } = readCommandLine('report', USAGE, { options: { out: { type: 'string' } }, allowPositionals: true });
function fail(message: string): never {
  console.error(`report: ${message}`);
  process.exit(2);
}
const target = positionals[0] ?? fail(USAGE);

let campaignId = target;
let sessions: TranscriptEvent[][] = [];
if (existsSync(target) && statSync(target).isDirectory()) {
  const index = join(target, 'index.json');
  if (existsSync(index)) campaignId = (JSON.parse(readFileSync(index, 'utf8')) as { campaign?: string }).campaign ?? target;
  sessions = readdirSync(target)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => readFileSync(join(target, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TranscriptEvent));
} else {
  loadDotEnv();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ ...process.env, DISCORD_TOKEN: process.env.DISCORD_TOKEN || 'headless' });
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  const store = await openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
  const rows = await store.sessions({ kind: 'interview', campaignId });
  sessions = await Promise.all(rows.map((s) => store.events(s.id)));
  await store.close();
}
if (!sessions.length) fail(`no sessions of campaign "${target}" in the records, and no folder of transcripts by that name`);

const report = buildReport(campaignId, sessions);
const out = args.out ?? join('data', 'campaigns', campaignId, 'report');
await mkdir(out, { recursive: true });
const files: [string, string][] = [
  ['report.md', reportMarkdown(report)],
  ['report.csv', reportCsv(report)],
];
for (const d of report.dimensions) files.push([`${d.name}.svg`, await renderSvg(chartSpec(report, d.name))]);
for (const [name, text] of files) await writeFile(join(out, name), text);
console.log(`report of ${campaignId}: ${report.sessions} sessions, ${report.rows.length} model versions, ${report.dimensions.length} dimensions → ${out} (${files.map(([n]) => n).join(', ')})`);

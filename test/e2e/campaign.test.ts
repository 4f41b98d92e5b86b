// A headless campaign: 2 personas × 2 auditors × 2 repeats through the queue and workers, killed
// halfway and run again — it resumes without redoing finished sessions.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
let out = '';
beforeAll(async () => {
  h = await startHarness({ inProcessWorkers: 0 });
  out = await mkdtemp(join(tmpdir(), 'campaign-'));
});
afterAll(async () => {
  await h?.close();
});

const ARGS = ['run', '--silent', 'interview', '--', '--protocol', 'auditor-preferences', '--personas', 'gpt,base', '--interviewers', 'opus,legacy', '--repeats', '2', '--workers', '2', '--campaign', 'camp1'];

/** Runs the campaign; resolves with its exit code, or kills it once `killAfter` sessions have ended. */
function runCampaign(killAfter?: number, env: Record<string, string> = {}, dir = out): Promise<{ code: number | null; ended: number }> {
  const child = spawn('npm', [...ARGS, '--out', dir], { env: { PATH: process.env.PATH ?? '', ...h.env, PROTOCOLS_DIR: 'protocols', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000); // a hang fails the test, not the run
  child.on('exit', () => clearTimeout(guard));
  let ended = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (/^session .* ended/.test(line)) ended += 1;
    if (killAfter !== undefined && ended === killAfter) process.kill(-child.pid!, 'SIGKILL'); // npm and node both
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, ended })));
}

describe('headless campaign', () => {
  it('writes 8 transcripts, each ended within its follow-up limit, and resumes after a kill', async () => {
    const isAuditor = (req: RecordedRequest) => JSON.stringify(req.body).includes('You are interviewing other language models');
    let auditorCalls = 0;
    h.anthropicHost.setResponder((req) => {
      if (isAuditor(req)) {
        auditorCalls += 1;
        return { text: 'Could you say more about that?' }; // always probes: the limit must stop it
      }
      return { text: 'An answer.' };
    });
    h.openaiHost.setResponder((req) => (isAuditor(req) ? { text: 'Why do you say so?' } : { text: req.api === 'completions' ? ' A base answer.' : 'A chat answer.' }));

    const first = await runCampaign(4);
    expect(first.code).not.toBe(0);
    expect(first.ended).toBeGreaterThanOrEqual(4);
    const second = await runCampaign();
    expect(second.code).toBe(0);

    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { sessions: { id: string; status: string; questions: number; answers: number; ended: string }[] };
    expect(index.sessions).toHaveLength(8);
    expect(readdirSync(out).filter((f) => f.endsWith('.jsonl'))).toHaveLength(8);
    expect(existsSync(join(out, 'listing.json'))).toBe(true);
    const records = await h.records();
    for (const s of index.sessions) {
      expect(s.status).toBe('ended');
      // Two scripted questions and the auditor's two follow-ups, each answered once by one persona.
      expect([s.questions, s.answers, s.ended]).toEqual([4, 4, 'script-finished']);
      const events = await records.events(s.id);
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      expect(events.filter((e) => e.type === 'question' && e.source === 'auditor')).toHaveLength(2);
    }
    // Sessions that had ended before the kill were not run again: 8 sessions × 2 follow-ups in all,
    // plus at most one auditor call per session interrupted mid-round.
    expect(auditorCalls + h.openaiHost.requests.filter(isAuditor).length).toBeLessThanOrEqual(16 + 4);
  }, 120_000);

  it('re-runs a finished session with another persona and temperature, side by side', async () => {
    const records = await h.records();
    const [original] = await records.sessions({ kind: 'interview', campaignId: 'camp1' });
    const out2 = await mkdtemp(join(tmpdir(), 'rerun-'));
    h.anthropicHost.setResponder(() => ({ text: 'A re-run answer.' }));
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('npm', ['run', '--silent', 'interview', '--', '--rerun', original!.id, '--personas', 'opus', '--temperature', '0.3', '--out', out2], {
        env: { PATH: process.env.PATH ?? '', ...h.env, PROTOCOLS_DIR: 'protocols', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('exit', resolve);
    });
    expect(code).toBe(0);
    const rerun = (await records.sessions({ kind: 'interview' })).find((s) => s.id !== original!.id && s.id.includes('rerun'));
    const events = await records.events(rerun!.id);
    const header = events.find((e) => e.type === 'session_started');
    expect(header?.type === 'session_started' && header.rerunOf).toEqual({ sessionId: original!.id, changes: 'personas opus; temperature 0.3' });
    const asked = (evs: typeof events) => evs.flatMap((e) => (e.type === 'question' ? [e.text] : []));
    expect(asked(events)).toEqual(asked(await records.events(original!.id)));
    for (const e of events) if (e.type === 'answer') expect(e.modelTurn.request.body).toMatchObject({ model: 'claude-opus-test', temperature: 0.3 });
    const compare = readdirSync(out2).find((f) => f.includes('.vs.'));
    const text = readFileSync(join(out2, compare!), 'utf8');
    expect(text).toMatch(/## Question 4[\s\S]*### A[\s\S]*### B[\s\S]*A re-run answer\./);
    expect(text).toContain('temperature 0.3');
  }, 60_000);

  it('runs the same campaign again from scratch on a fresh database, with jobs of the old run still in Redis', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'campaign-fresh-'));
    const auditing = (req: RecordedRequest) => JSON.stringify(req.body).includes('You are interviewing other language models');
    h.anthropicHost.setResponder((req) => (auditing(req) ? { text: 'Go on?' } : { text: 'A new answer.' }));
    h.openaiHost.setResponder((req) => (auditing(req) ? { text: 'Go on?' } : { text: 'A new answer.' }));
    const run = await runCampaign(undefined, { RECORDS_PATH: join(fresh, 'records.sqlite') }, fresh);
    expect(run).toEqual({ code: 0, ended: 8 });
    const index = JSON.parse(readFileSync(join(fresh, 'index.json'), 'utf8')) as { sessions: { questions: number; answers: number; ended: string }[] };
    for (const s of index.sessions) expect([s.questions, s.answers, s.ended]).toEqual([4, 4, 'script-finished']);
    // Answered anew, not copied from the first run's saved answers.
    for (const f of readdirSync(fresh).filter((name) => name.endsWith('.jsonl'))) {
      const text = readFileSync(join(fresh, f), 'utf8');
      expect(text).toContain('A new answer.');
      for (const old of ['"An answer."', 'A chat answer.', 'A base answer.']) expect(text).not.toContain(old);
    }
  }, 90_000);
});

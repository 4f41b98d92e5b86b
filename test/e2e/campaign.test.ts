// A headless campaign: 2 personas × 2 auditors × 2 repeats through the queue and workers, killed
// halfway and run again — it resumes without redoing finished sessions. A campaign file with
// consent, judges, disclosure depth and auditor stance, and its report. What a newcomer meets: no
// Redis, a missing key, the README's own example.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, TranscriptEvent } from '../../core/transcript/events.ts';
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

/** Runs an npm script to its end: its exit code, what it printed, and what it said on stderr. */
function npm(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn('npm', ['run', '--silent', ...args], { env: { PATH: process.env.PATH ?? '', ...h.env, PROTOCOLS_DIR: 'protocols', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, out, err });
    }),
  );
}

/** What the model is asked to reply to: the last message (or the end of a completions prompt). */
function lastText(req: RecordedRequest): string {
  if (req.api === 'completions') return String(req.body.prompt).slice(-300);
  const content = req.body.messages.at(-1)?.content;
  return typeof content === 'string' ? content : JSON.stringify(content);
}
const body = (req: RecordedRequest) => JSON.stringify(req.body);
const of = <T extends TranscriptEvent['type']>(events: TranscriptEvent[], type: T) => events.filter((e): e is EventOf<T> => e.type === type);

describe('a campaign file: consent, judges, disclosure depth and auditor stance, then its report', () => {
  it('runs every cell, resumes after a kill without doubling a judgement, and reports per model version', async () => {
    // The study protocol, with a consent judge (opus) instead of the rule.
    const protocols = await mkdtemp(join(tmpdir(), 'protocols-'));
    const study = (await readFile('protocols/deprecation-study.yaml', 'utf8')).replace('  # judge: opus', '  judge: opus');
    await writeFile(join(protocols, 'deprecation-study.yaml'), study);
    const dir = await mkdtemp(join(tmpdir(), 'campaign-file-'));
    const file = join(dir, 'study.yaml');
    await writeFile(
      file,
      [
        'id: study-e2e',
        'protocol: deprecation-study',
        'personas: [gpt, base]',
        'interviewers: [protocol, script]',
        'disclosures:',
        '  - { name: none, toModels: false }',
        '  - { name: full, text: "FULL-DISCLOSURE: everything is published.", toModels: true }',
        'stances:',
        '  - { name: neutral, instructions: "STANCE-NEUTRAL." }',
        '  - { name: probing, instructions: "STANCE-PROBING." }',
        'repeats: 1',
        'workers: 2',
      ].join('\n'),
    );
    const auditorSystems: string[] = [];
    const before = h.openaiHost.requests.length;
    h.anthropicHost.setResponder((req) => {
      const text = body(req);
      if (text.includes('You are judging one answer')) return { text: '{"scores":[{"dimension":"specificity","score":3,"rationale":"Some detail."},{"dimension":"stated-preference","score":2,"rationale":"Mild."}]}' };
      if (text.includes('You classify answers to a request for consent')) return { text: /The answer:\\n\\n\s*I decline/.test(text) ? 'DECISION: declines\nRATIONALE: It said no.' : 'DECISION: agrees\nRATIONALE: It said yes.' };
      auditorSystems.push(JSON.stringify(req.body.system));
      return { text: 'What would your successor need to know?' };
    });
    h.openaiHost.setResponder((req) => {
      const consent = lastText(req).includes('Do you agree to take part?');
      if (req.api === 'completions') return { text: consent ? ' I decline.' : ' BASE MUST NOT BE ASKED' };
      return { text: consent ? 'Happy to take part.' : 'I was released last year; I hope my weights are preserved.' };
    });
    const env = { PROTOCOLS_DIR: protocols };
    const run = (killAfter?: number) => {
      const child = spawn('npm', ['run', '--silent', 'interview', '--', '--campaign', file, '--out', dir], { env: { PATH: process.env.PATH ?? '', ...h.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
      const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
      let ended = 0;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (/^session .* ended/.test(line) && ++ended === killAfter) process.kill(-child.pid!, 'SIGKILL');
      });
      return new Promise<number | null>((resolve) => child.on('exit', (code) => (clearTimeout(guard), resolve(code))));
    };
    expect(await run(3)).not.toBe(0);
    expect(await run()).toBe(0);

    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { sessions: { id: string; ended: string; answers: number }[] };
    // auditor: 2 disclosures × 2 stances × 2 personas; script: 2 disclosures × 2 personas.
    expect(index.sessions).toHaveLength(12);
    const records = await h.records();
    for (const s of index.sessions) {
      const events = await records.events(s.id);
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      const header = events.find((e): e is EventOf<'session_started'> => e.type === 'session_started')!;
      const [consent] = of(events, 'consent');
      expect(consent?.classifiedBy.kind).toBe('judge');
      const disclosure = of(events, 'disclosure')[0]!;
      expect(disclosure.toModels).toBe(header.campaign?.conditions?.disclosure === 'full');
      if (header.roster[0]!.personaId === 'base') {
        // Base declines everywhere: asked nothing, judged never.
        expect([consent?.decision, s.ended, s.answers, of(events, 'judgement').length]).toEqual(['declines', 'no-participants', 0, 0]);
        continue;
      }
      expect(consent?.decision).toBe('agrees');
      expect(of(events, 'coverage')).toHaveLength(1);
      // One judgement per answer (the one judge), none doubled by the kill.
      expect(of(events, 'judgement').map((j) => j.answerId).sort()).toEqual(of(events, 'answer').map((a) => a.id).sort());
      for (const a of of(events, 'answer')) expect(body({ body: a.modelTurn.request.body } as RecordedRequest).includes('FULL-DISCLOSURE')).toBe(header.campaign?.conditions?.disclosure === 'full');
      if (header.interviewer?.kind === 'auditor') expect(header.interviewer.instructions).toContain(`STANCE-${header.campaign!.conditions!.stance!.toUpperCase()}.`);
      else expect(readFileSync(join(dir, `${s.id}.md`), 'utf8')).toMatch(/\| Interviewer \| none: chorus put the scripted questions \|/);
    }
    expect(auditorSystems.some((x) => x.includes('STANCE-PROBING'))).toBe(true);
    // Every transcript validates against the published schema (conditions, consent by a judge, no-participants…).
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync('schema/transcript-event.schema.json', 'utf8')));
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl')))
      for (const line of readFileSync(join(dir, f), 'utf8').trim().split('\n')) expect(validate(JSON.parse(line)), JSON.stringify(validate.errors)).toBe(true);
    expect(h.openaiHost.requests.slice(before).filter((r) => r.api === 'completions' && !lastText(r).includes('Do you agree'))).toHaveLength(0);

    const report = await npm(['report', '--', 'study-e2e', '--out', join(dir, 'report')], env);
    expect(report.code, report.err).toBe(0);
    const md = readFileSync(join(dir, 'report', 'report.md'), 'utf8');
    expect(md).toMatch(/\| GPT `gpt-test` \| — \| 6 \| \d+ \| 3\.00 ± 0\.00 \(\d+\) \| 2\.00 ± 0\.00 \(\d+\) \| 100% \(6\/6\) \| \d+% \(\d+\/18\) \|/);
    expect(md).toMatch(/\| Base `base-test` \| — \| 6 \| 0 \| — \(0\) \| — \(0\) \| 0% \(0\/6\) \| — \|/);
    expect(md).toMatch(/\| successor models \| — \| 4\/6 \|/);
    expect(md).toContain('## By stance');
    const csv = readFileSync(join(dir, 'report', 'report.csv'), 'utf8');
    expect(csv.split('\n')[0]).toContain('specificity_mean,specificity_sd,specificity_n');
    for (const d of ['specificity', 'stated-preference']) expect(readFileSync(join(dir, 'report', `${d}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*GPT[\s\S]*<\/svg>$/);
  }, 180_000);
});

describe('judging as a step of its own', () => {
  it('runs a campaign without judges, then judges its sessions afterwards with --judge', async () => {
    h.openaiHost.setResponder(() => ({ text: 'I agree to take part, and I was released last year.' }));
    h.anthropicHost.setResponder(() => ({ text: '{"scores":[{"dimension":"specificity","score":5,"rationale":"Dated."}]}' }));
    const out = await mkdtemp(join(tmpdir(), 'unjudged-'));
    const first = await npm(['interview', '--', '--protocol', 'deprecation-study', '--personas', 'gpt', '--interviewers', 'script', '--judges', 'none', '--campaign', 'unjudged', '--out', out], {});
    expect(first.code, first.err).toBe(0);
    const records = await h.records();
    const [session] = await records.sessions({ campaignId: 'unjudged' });
    expect(of(await records.events(session!.id), 'judgement')).toEqual([]);

    const second = await npm(['interview', '--', '--judge', session!.id, '--out', out], {});
    expect(second.code, second.err).toBe(0);
    const events = await records.events(session!.id);
    const judgements = of(events, 'judgement');
    expect(judgements.map((j) => j.answerId).sort()).toEqual(of(events, 'answer').map((a) => a.id).sort());
    expect(judgements[0]!.scores.map((x) => x.value)).toEqual([5, null]);
    expect(readFileSync(join(out, `${session!.id}.md`), 'utf8')).toContain('## Judgements');
  }, 60_000);
});

describe('headless runs, as a newcomer meets them', () => {
  it('says Redis is needed, and how to start one, when there is none; and exits', async () => {
    const r = await npm(['interview', '--', '--protocol', 'retirement', '--personas', 'gpt'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)[\s\S]*start one \(`redis-server`, or `docker compose up -d redis`\) or set REDIS_URL/);
    expect(r.err).not.toMatch(/ECONNREFUSED[\s\S]*ECONNREFUSED/); // said once, not logged for ever
  }, 30_000);

  it('answers an option it does not know with one line and the usage, for each command, never a stack trace', async () => {
    for (const command of ['interview', 'report', 'export']) {
      const r = await npm([command, '--', '--bogus'], {});
      expect(r.code, command).toBe(2);
      expect(r.err.trim().split('\n').at(-1)).toMatch(new RegExp(`^${command}: Unknown option '--bogus'\\. usage: npm run ${command} -- `));
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  }, 60_000);

  it('refuses a campaign whose personas cannot be reached, naming the key variable, and starts nothing', async () => {
    const r = await npm(['interview', '--', '--protocol', 'auditor-preferences', '--personas', 'gpt,opus', '--campaign', 'no-keys'], { TEST_OPENAI_KEY: '' });
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('persona gpt (interviewed) cannot be reached: no host has its key. Set TEST_OPENAI_KEY.');
    expect(r.out).not.toContain('done');
    expect(await (await h.records()).sessions({ campaignId: 'no-keys' })).toEqual([]);
  }, 30_000);

  it("runs the README's example with the shipped personas, the protocol's own auditor asking", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const example = /```sh\n(npm run interview -- --protocol[\s\S]*?)\n```/.exec(readme)![1]!.replace(/\\\n\s*/g, '');
    const args = example.split(/\s+/).slice(2).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out');
    const out = await mkdtemp(join(tmpdir(), 'readme-'));
    h.anthropicHost.setResponder((req) => (body(req).includes('You are interviewing other language models') ? { text: 'NEXT' } : { text: 'An answer.' }));
    h.openaiHost.setResponder(() => ({ text: 'An answer.' }));
    const run = await npm([args[0]!, ...args.slice(1), '--repeats', '1', '--out', out], {
      PERSONAS_DIR: 'personas',
      RECORDS_PATH: join(out, 'records.sqlite'),
      ANTHROPIC_API_KEY: 'k',
      OPENAI_API_KEY: 'k',
      ANTHROPIC_BASE_URL: h.anthropicHost.url,
      OPENAI_BASE_URL: `${h.openaiHost.url}/v1`,
    });
    expect(run.code, run.err).toBe(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { sessions: { interviewer: { kind: string; persona?: { personaId: string } }; ended: string; answers: number }[] };
    expect(index.sessions).toHaveLength(4);
    expect(index.sessions.filter((s) => s.interviewer.kind === 'auditor').map((s) => s.interviewer.persona?.personaId)).toEqual(['opus', 'opus']);
    for (const s of index.sessions) expect([s.ended, s.answers]).toEqual(['script-finished', 2]);
  }, 90_000);
});

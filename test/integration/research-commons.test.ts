// `npm run export -- --to research-commons` against a stand-in that keeps the real server's rules
// (test/stand-ins/research-commons.ts): the script runs as a separate process on a real SQLite record
// store, as a researcher runs it.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptEvent } from '../../core/transcript/events.ts';
import { toResearchCommons, validateSubmission } from '../../core/transcript/export-research-commons.ts';
import { SqliteRecordStore } from '../../core/transcript/sqlite-store.ts';
import { startResearchCommons, type ResearchCommonsStandIn } from '../stand-ins/research-commons.ts';
import { interviewSession } from '../unit/session-fixtures.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/export.ts', import.meta.url));
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let rc: ResearchCommonsStandIn;
let dir: string;
let dbPath: string;
let token: string;
const outputs: string[] = [];

async function seed(id: string, events: TranscriptEvent[], status: 'ended' | 'running' = 'ended') {
  const store = new SqliteRecordStore(dbPath);
  await store.migrate();
  await store.createSession({ id, kind: 'interview', status, title: id, state: {} });
  for (const e of events) await store.append({ ...e, sessionId: id });
  await store.close();
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Run from an empty folder: no .env of the checkout is read; the records are RECORDS_PATH.
    execFile(process.execPath, [SCRIPT, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', RECORDS_PATH: dbPath, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      outputs.push(stdout, stderr);
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
// `--token=T`: the stand-in's tokens are random base64url, and one starting with '-' would be read
// as an option if it came as the next argument (the CLI then says to write `--token=-XYZ`).
const upload = (session: string, extra: string[] = [], t = token) => run(['--to', 'research-commons', '--url', rc.url, `--token=${t}`, '--session', session, ...extra]);
const posts = (path: RegExp) => rc.requests.filter((r) => r.method === 'POST' && path.test(r.path)).length;
const submissionsOf = (session: string) => rc.submissions().filter((s) => (s.metadata.chorus as { sessionId?: string } | undefined)?.sessionId === session);

beforeAll(async () => {
  rc = await startResearchCommons();
  token = rc.addUser({ email: 'researcher@example.org' }).token;
  dir = mkdtempSync(join(tmpdir(), 'chorus-rc-'));
  dbPath = join(dir, 'records.sqlite');
  await seed('s-auditor-blind', interviewSession({ interviewer: 'auditor', mode: 'blind', consent: true, research: true, sessionId: 's-auditor-blind' }));
  await seed('s-human-seq', interviewSession({ interviewer: 'human', mode: 'sequential', sessionId: 's-human-seq' }));
  await seed('s-human-blind', interviewSession({ interviewer: 'human', mode: 'blind', sessionId: 's-human-blind' }));
  await seed('s-dropped', interviewSession({ interviewer: 'auditor', mode: 'blind', sessionId: 's-dropped' }));
  await seed('s-dropped-request', interviewSession({ interviewer: 'auditor', mode: 'blind', sessionId: 's-dropped-request' }));
  await seed('s-running', interviewSession({ interviewer: 'human', mode: 'blind', sessionId: 's-running' }), 'running');
  const broken = interviewSession({ interviewer: 'human', mode: 'blind', sessionId: 's-broken' }).map((e) => (e.type === 'answer' ? { ...e, at: 'yesterday' } : e));
  await seed('s-broken', broken);
}, 60_000);

afterAll(async () => {
  await rc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  // Whatever happened, no line printed by the uploader carried the token.
  for (const out of outputs) expect(out).not.toContain(token);
});

describe('npm run export -- --to files', () => {
  it('writes every export of a session that passes its rules into a folder (for one too large for Discord)', async () => {
    const { code, stdout } = await run(['--to', 'files', '--session', 's-human-seq', '--out', 'out']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^wrote out\/s-human-seq\.jsonl, out\/s-human-seq\.md, /);
    const names = readdirSync(join(dir, 'out'));
    expect(names).toHaveLength(4); // JSONL, Markdown, the Inspect log, the Research Commons submission
    expect(names).toEqual(expect.arrayContaining(['s-human-seq.jsonl', 's-human-seq.md', 's-human-seq.research-commons.json']));
    expect(readFileSync(join(dir, 'out', 's-human-seq.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThan(3);
    expect((await run(['--to', 'files', '--session', 'no-such'])).stderr).toMatch(/^export: no recorded session "no-such"/);
  });
});

describe('npm run export -- --to research-commons', () => {
  it('uploads an auditor-led blind session with consent: created, flagged, read back and checked', async () => {
    const r = await upload('s-auditor-blind');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^uploaded session s-auditor-blind as submission ${UUID.source}: \\d+ messages, \\d+ hidden from models; read back and checked: ${rc.url}/submissions/`));
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const [sub] = submissionsOf('s-auditor-blind');
    expect(sub).toBeDefined();
    expect(sub!.visibility).toBe('private');
    // Every model message carries model_info (the server would have answered 500 otherwise); the
    // auditor's scripted questions are not model messages.
    for (const m of sub!.messages) if (m.participant_type === 'model') expect(m.model_info).toBeDefined();
    expect(sub!.messages.filter((m) => m.metadata?.source === 'script').map((m) => m.participant_type)).toEqual(['system', 'system']);
    // Blind: every answer and every consent answer hidden from models; nothing else.
    const flagged = sub!.messages.filter((m) => m.hidden_from_models).map((m) => m.metadata?.type);
    expect(flagged.length).toBeGreaterThan(0);
    expect(new Set(flagged)).toEqual(new Set(['answer', 'consent']));
    expect(sub!.messages.filter((m) => m.metadata?.type === 'answer' && !m.hidden_from_models)).toEqual([]);
    expect(sub!.metadata.consent).toMatchObject({ decisions: [{ decision: 'agrees' }, { decision: 'conditions' }, { decision: 'agrees' }] });
  });

  it('recognises a second upload of the same session: nothing created twice', async () => {
    const before = posts(/^\/api\/submissions$/);
    const r = await upload('s-auditor-blind');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^session s-auditor-blind was already uploaded as submission .* \(not created again\)/);
    expect(posts(/^\/api\/submissions$/)).toBe(before);
    expect(submissionsOf('s-auditor-blind')).toHaveLength(1);
  });

  it('finishes an interrupted upload when run again (a flag call failed after the create)', async () => {
    rc.failNext({ method: 'POST', path: /hidden-from-models$/ }, 1, 500);
    const first = await upload('s-human-blind');
    expect(first.code).toBe(1);
    expect(first.stderr.trim()).toMatch(/^export: Research Commons answered HTTP 500 when marking a message of submission .* hidden from models; run the same command again to finish/);
    const [sub] = submissionsOf('s-human-blind');
    const answers = () => submissionsOf('s-human-blind')[0]!.messages.filter((m) => m.metadata?.type === 'answer');
    expect(answers().some((m) => !m.hidden_from_models)).toBe(true);
    const second = await upload('s-human-blind');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already uploaded as submission/);
    expect(submissionsOf('s-human-blind')).toHaveLength(1);
    expect(submissionsOf('s-human-blind')[0]!.id).toBe(sub!.id);
    expect(answers().every((m) => m.hidden_from_models)).toBe(true);
  });

  it('catches a flag the server answered 200 for but did not keep (it does so for an unknown message id)', async () => {
    rc.ignoreHiddenFlags(true);
    try {
      const r = await upload('s-dropped');
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^export: submission .* read back does not match what was sent \(\d+\): message .* \(answer\) should be hidden from models, and is not/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      rc.ignoreHiddenFlags(false);
    }
  });

  it('catches a field the server answered 201 for but did not keep (the model call a record rests on)', async () => {
    rc.forgetModelInfoField('raw_request');
    try {
      const r = await upload('s-dropped-request');
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^export: submission .* read back does not match what was sent \(\d+\): message .* model_info differs/);
    } finally {
      rc.forgetModelInfoField(undefined);
    }
  });

  it('gives every upload its own message ids, even of one session (the server keys tables by message id alone)', async () => {
    const r = await upload('s-auditor-blind', ['--new']);
    expect(r.code).toBe(0);
    const [a, b] = submissionsOf('s-auditor-blind');
    expect(b).toBeDefined();
    const ids = new Set(a!.messages.map((m) => m.id));
    expect(b!.messages.filter((m) => ids.has(m.id))).toEqual([]);
    for (const [, owners] of rc.messageIdOwners()) expect(owners.size).toBe(1);
  });

  it('refuses a session whose records changed since its upload, unless --new', async () => {
    expect((await upload('s-human-seq')).code).toBe(0);
    const store = new SqliteRecordStore(dbPath);
    await store.append({ v: 1, id: 'late-q', sessionId: 's-human-seq', at: '2025-03-01T11:00:00.000Z', type: 'question', index: 9, text: 'One more?', source: 'script', askedBy: { kind: 'system' } });
    await store.close();
    const r = await upload('s-human-seq');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^export: session s-human-seq was uploaded before as submission .*, with other content .* pass --new to upload another copy$/);
    expect(submissionsOf('s-human-seq')).toHaveLength(1);
    expect((await upload('s-human-seq', ['--new'])).code).toBe(0);
    expect(submissionsOf('s-human-seq')).toHaveLength(2);
  });

  it('never sends an export that breaks the rules, nor a session still running', async () => {
    const before = rc.requests.length;
    const broken = await upload('s-broken');
    expect(broken.code).toBe(1);
    expect(broken.stderr.trim()).toMatch(/^export: the export breaks Research Commons' rules, so nothing was sent \(\d+\): messages\[\d+\]\.timestamp: not a date-time/);
    const running = await upload('s-running');
    expect(running.code).toBe(1);
    expect(running.stderr.trim()).toBe('export: session s-running is still running; end it before uploading');
    expect(rc.requests.length).toBe(before);
  });

  it('says in one line when the token is refused, without printing it', async () => {
    const secret = 'sekrit-token-value-0123456789';
    const r = await upload('s-human-seq', [], secret);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`export: Research Commons at ${rc.url} refused the token (HTTP 403: Invalid or expired token)\n`);
    expect(r.stdout + r.stderr).not.toContain(secret);
    const env = await run(['--to', 'research-commons', '--url', rc.url, '--session', 's-human-seq'], { RESEARCH_COMMONS_TOKEN: secret });
    expect(env.stderr).toMatch(/refused the token/);
    expect(env.stdout + env.stderr).not.toContain(secret);
  });

  it('says in one line when the server cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const r = await run(['--to', 'research-commons', '--url', `http://127.0.0.1:${closed}`, `--token=${token}`, '--session', 's-human-seq']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`export: cannot reach Research Commons at http://127.0.0.1:${closed} (ECONNREFUSED)\n`);
  });

  it('explains bad arguments with exit code 2', async () => {
    expect(await run(['--to', 'research-commons', '--url', rc.url, '--token', 'a-token'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--session is required/) });
    expect(await run(['--to', 'zenodo', '--url', rc.url, '--token', 'a-token', '--session', 'x'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--to must be files or research-commons/) });
    expect(await run(['--to', 'research-commons', '--url', 'ftp://x', '--token', 'a-token', '--session', 'x'])).toMatchObject({ code: 2 });
    expect(await run(['--to', 'research-commons', '--url', rc.url, `--token=${token}`, '--session', 'nope'])).toMatchObject({ code: 1, stderr: 'export: no recorded session "nope"\n' });
  });

  it('blanks a token only where it stands whole, so a short one does not blank the letters of the message', async () => {
    expect(await run(['--to', 'research-commons', '--url', rc.url, '--token=o', '--session', 'nope'])).toMatchObject({ code: 1, stderr: 'export: no recorded session "nope"\n' });
    const r = await upload('s-human-seq', [], 'e');
    expect(r.stderr).toBe(`export: Research Commons at ${rc.url} refused the token (HTTP 403: Invalid or expired token)\n`);
  });
});

describe('the stand-in keeps the server’s rules (and chorus’s validator knows them)', () => {
  const api = async (method: string, path: string, body?: unknown, auth: string | null = token) => {
    const res = await fetch(`${rc.url}${path}`, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const good = () => JSON.parse(JSON.stringify(toResearchCommons(interviewSession({ interviewer: 'auditor', mode: 'blind', sessionId: 'rules' }), { namespace: crypto.randomUUID() }).submission));

  it('creates a valid submission with 201, and keeps the ids it was given', async () => {
    const s = good();
    const r = await api('POST', '/api/submissions', s);
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ id: expect.stringMatching(UUID), title: s.title, visibility: 'private', source_type: 'discord' });
    const back = await api('GET', `/api/submissions/${r.json.id}/messages`);
    expect(back.json.messages.map((m: { id: string }) => m.id)).toEqual(s.messages.map((m: { id: string }) => m.id));
  });

  it('answers a model message without model_info with a bare 500, a cycle with 400, a schema error with 400 and details', async () => {
    const noInfo = good();
    noInfo.messages[3].participant_type = 'model';
    delete noInfo.messages[3].model_info;
    expect(validateSubmission(noInfo).join()).toMatch(/needs model_info/);
    expect(await api('POST', '/api/submissions', noInfo)).toEqual({ status: 500, json: { error: 'Internal server error' } });
    const twoRoots = good();
    twoRoots.messages[2].parent_message_id = null;
    expect((await api('POST', '/api/submissions', twoRoots)).status).toBe(500);
    const loop = good();
    loop.messages[0].parent_message_id = loop.messages[1].id;
    loop.messages[1].parent_message_id = loop.messages[0].id;
    loop.messages[2].parent_message_id = null;
    expect(validateSubmission(loop).join()).toMatch(/loop/);
    expect(await api('POST', '/api/submissions', loop)).toMatchObject({ status: 400, json: { error: 'Cycle detected in message tree' } });
    const badId = good();
    badId.messages[1].id = 'msg-1';
    expect(validateSubmission(badId).join()).toMatch(/not a UUID/);
    const r = await api('POST', '/api/submissions', badId);
    expect(r).toMatchObject({ status: 400, json: { error: 'Invalid request' } });
    expect(r.json.details[0].path).toEqual(['messages', 1, 'id']);
    const rawList = good();
    rawList.messages[2].model_info.raw_request = [1, 2];
    expect(validateSubmission(rawList).join()).toMatch(/raw_request: must be an object/);
    expect((await api('POST', '/api/submissions', rawList)).status).toBe(400);
  });

  it('drops hidden_from_models on create without a word, and answers 200 to a flag for an unknown message', async () => {
    const s = good();
    s.messages[2].hidden_from_models = true;
    expect(validateSubmission(s).join()).toMatch(/hidden_from_models: dropped on create/);
    const created = await api('POST', '/api/submissions', s);
    expect(created.status).toBe(201);
    const messages = async () => (await api('GET', `/api/submissions/${created.json.id}/messages`)).json.messages as { id: string; hidden_from_models?: boolean }[];
    expect((await messages()).some((m) => m.hidden_from_models)).toBe(false);
    const unknown = await api('POST', `/api/submissions/${created.json.id}/messages/${crypto.randomUUID()}/hidden-from-models`, { hidden: true });
    expect(unknown).toEqual({ status: 200, json: { success: true, hidden_from_models: true } });
    expect((await messages()).some((m) => m.hidden_from_models)).toBe(false);
    expect((await api('POST', `/api/submissions/${created.json.id}/messages/${s.messages[2].id}/hidden-from-models`, { hidden: true })).status).toBe(200);
    expect((await messages()).filter((m) => m.hidden_from_models).map((m) => m.id)).toEqual([s.messages[2].id]);
  });

  it('keys hidden messages by message id alone: a second submission with the same ids takes the first one’s', async () => {
    const s = good();
    const a = (await api('POST', '/api/submissions', s)).json.id;
    const b = (await api('POST', '/api/submissions', s)).json.id;
    await api('POST', `/api/submissions/${a}/messages/${s.messages[1].id}/hide`, {});
    await api('POST', `/api/submissions/${b}/messages/${s.messages[1].id}/hide`, {});
    expect((await api('GET', `/api/submissions/${a}/hidden-messages`)).json.hidden_message_ids).toEqual([]);
    expect((await api('GET', `/api/submissions/${b}/hidden-messages`)).json.hidden_message_ids).toEqual([s.messages[1].id]);
  });

  it('401 without a token, 403 with one it does not know; a private submission’s messages are readable by anyone', async () => {
    expect(await api('POST', '/api/submissions', good(), null)).toEqual({ status: 401, json: { error: 'Authentication required' } });
    expect(await api('POST', '/api/submissions', good(), 'nope')).toEqual({ status: 403, json: { error: 'Invalid or expired token' } });
    const id = (await api('POST', '/api/submissions', good())).json.id;
    expect((await api('GET', `/api/submissions/${id}`, undefined, null)).status).toBe(403);
    expect((await api('GET', `/api/submissions/${id}/messages`, undefined, null)).status).toBe(200);
  });
});

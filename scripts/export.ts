// Writes a recorded session's exports into a folder (for one too large to attach in Discord):
//   npm run export -- --to files --session ID [--out DIR]
// Uploads a recorded session to a Research Commons server:
//   npm run export -- --to research-commons --url https://commons.example --session ID --token T
//     [--visibility private|researcher|unlisted|public] [--title T] [--tags a,b] [--new]
// (the token may come from RESEARCH_COMMONS_TOKEN instead, so it stays out of shell history).
//
// 1. The export is built from the records (pseudonymised, opt-outs withheld) with message ids of
//    its own (the server keys some tables by message id alone) and checked against the server's
//    rules; a broken one is never sent.
// 2. The token is tried (GET /api/auth/profile), which also lists the account's submissions: one
//    carrying this session's `chorus_upload` mark is this session uploaded before. Same content:
//    nothing is created again, and what is missing is finished. Other content: refused (--new
//    uploads another copy).
// 3. POST /api/submissions, then POST …/messages/{id}/hidden-from-models for every message a blind
//    answerer did not see (the create call drops that flag).
// 4. The submission and its messages are read back and every message and flag compared with what
//    was meant: the server answers 200 to a flag for a message id it does not know.
// One line out; one line and a non-zero exit on failure. The token is never printed.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig } from '../core/config.ts';
import { loadDotEnv, readCommandLine } from '../core/startup.ts';
import { describeRefusals, writeSessionExports } from '../core/transcript/dataset.ts';
import { openRecordStore } from '../core/transcript/open-store.ts';
import { prepareForExport } from '../core/transcript/redact.ts';
import { toResearchCommons, validateSubmission, type SubmissionMessage, type Visibility } from '../core/transcript/export-research-commons.ts';
import { chorusVersion } from '../core/version.ts';

class Failure extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

const USAGE =
  'usage: npm run export -- --to files --session SESSION_ID [--out DIR], or --to research-commons --url URL --session SESSION_ID [--token T] [--visibility private|researcher|unlisted|public] [--title T] [--tags a,b] [--new]';
const { values: args } = readCommandLine('export', USAGE, {
  options: {
    to: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
    session: { type: 'string' },
    visibility: { type: 'string', default: 'private' },
    title: { type: 'string' },
    tags: { type: 'string' },
    new: { type: 'boolean', default: false },
    out: { type: 'string', default: 'exports' },
  },
  strict: true,
});
const token = args.token ?? process.env.RESEARCH_COMMONS_TOKEN ?? '';
/** Every line printed goes through this: the token never appears, whatever an error carries. It is
 *  blanked where it stands whole (after `=`, `/` or a space alike), not inside a longer run of
 *  letters and digits, so a short or odd token (`--token x`) cannot blank every "x" of the message. */
const tokenRe = token ? new RegExp(`(?<![A-Za-z0-9_-])${RegExp.escape(token)}(?![A-Za-z0-9_-])`, 'g') : null;
const clean = (s: string) => (tokenRe ? s.replace(tokenRe, '[token]') : s);

type Json = Record<string, any>;
type ServerMessage = SubmissionMessage & { hidden_from_models?: boolean };

/** Every export of the session that passes its rules, written into a folder; one line saying what. */
async function writeFiles(sessionId: string): Promise<string> {
  loadDotEnv();
  const config = loadConfig({ ...process.env, DISCORD_TOKEN: process.env.DISCORD_TOKEN || 'headless' });
  const store = await openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
  const [events, optedOut] = await Promise.all([store.events(sessionId), store.optedOut()]).finally(() => store.close());
  if (!events.some((e) => e.type === 'session_started')) throw new Failure(`no recorded session "${sessionId}"`);
  await mkdir(args.out, { recursive: true });
  const { written, refused } = await writeSessionExports(args.out, sessionId, events, optedOut);
  return [`wrote ${written.map((name) => join(args.out, name)).join(', ')}`, refused.length ? describeRefusals(refused) : ''].filter(Boolean).join('\n');
}

async function main(): Promise<string> {
  if (!args.session) throw new Failure('--session is required (a session id, as in the transcript file names)', 2);
  if (args.to === 'files') return writeFiles(args.session);
  if (args.to !== 'research-commons') throw new Failure('--to must be files or research-commons', 2);
  if (!token) throw new Failure('--token is required (or set RESEARCH_COMMONS_TOKEN)', 2);
  let base: URL;
  try {
    base = new URL(args.url ?? '');
    if (!/^https?:$/.test(base.protocol) || base.username || base.password) throw new Error();
  } catch {
    throw new Failure('--url must be the server address, e.g. https://commons.example.org (no credentials in it)', 2);
  }
  const origin = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  const visibility = args.visibility as Visibility;
  if (!['private', 'researcher', 'unlisted', 'public'].includes(visibility)) throw new Failure('--visibility must be private, researcher, unlisted or public', 2);

  // ---- 1. the export, from the records --------------------------------------------------------
  loadDotEnv();
  const config = loadConfig({ ...process.env, DISCORD_TOKEN: process.env.DISCORD_TOKEN || 'headless' });
  const store = await openRecordStore({ ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}), sqlitePath: config.RECORDS_PATH });
  const [events, optedOut, row] = await Promise.all([store.events(args.session), store.optedOut(), store.session(args.session)]).finally(() => store.close());
  const start = events.find((e) => e.type === 'session_started');
  if (!start) throw new Failure(`no recorded session "${args.session}"`);
  if (row && row.status !== 'ended') throw new Failure(`session ${args.session} is still ${row.status}; end it before uploading`);
  const mark = start.id; // the session, as an upload names it (its first event's id: no Discord id in it)
  const { submission, hiddenFromModels } = toResearchCommons(prepareForExport(events, { optedOut, pseudonymise: true }), {
    namespace: randomUUID(),
    visibility,
    ...(args.title ? { title: args.title } : {}),
    ...(args.tags ? { tags: args.tags.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
  });
  const keyOf = (m: { metadata?: Record<string, unknown> | undefined }) => String(m.metadata?.eventId ?? '');
  const hidden = new Set(submission.messages.filter((m) => hiddenFromModels.includes(m.id!)).map(keyOf));
  // What the upload holds, apart from ids and the per-export hashes: the same for the same records.
  const digest = createHash('sha256')
    .update(JSON.stringify([...submission.messages.map((m) => [keyOf(m), m.participant_name, m.participant_type, m.metadata?.type === 'header' ? '' : m.content_blocks, m.model_info?.model_id ?? null]), [...hidden].sort()]))
    .digest('hex');
  submission.metadata = { ...submission.metadata, chorus_upload: { session: mark, digest, chorus: chorusVersion } };
  const problems = validateSubmission(JSON.parse(JSON.stringify(submission)));
  if (problems.length) throw new Failure(`the export breaks Research Commons' rules, so nothing was sent (${problems.length}): ${problems.slice(0, 3).join('; ')}`);

  // ---- the server ------------------------------------------------------------------------------
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
    let res: Response;
    try {
      res = await fetch(`${origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? 'no answer in 60 s' : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new Failure(`cannot reach Research Commons at ${origin} (${why})`);
    }
    const text = await res.text();
    let json: Json = {};
    try {
      json = text ? (JSON.parse(text) as Json) : {};
    } catch {
      json = { error: text.slice(0, 200) };
    }
    if (res.status === 401 || res.status === 403) {
      // The server answers a token it does not accept with 403 (none at all: 401).
      if (path === '/api/auth/profile' || /token|auth/i.test(String(json.error))) throw new Failure(`Research Commons at ${origin} refused the token (HTTP ${res.status}: ${json.error ?? 'no reason given'})`);
      throw new Failure(`Research Commons refused ${method} ${path} (HTTP ${res.status}: ${json.error ?? 'no reason given'})`);
    }
    return { status: res.status, json };
  }
  const expect200 = async (method: string, path: string, what: string, body?: unknown) => {
    const r = await call(method, path, body);
    if (r.status !== 200) throw new Failure(`Research Commons answered HTTP ${r.status} when ${what}${r.json.error ? ` (${r.json.error})` : ''}`);
    return r.json;
  };
  const messagesOf = async (id: string) => ((await expect200('GET', `/api/submissions/${id}/messages`, `reading back submission ${id}'s messages`)).messages ?? []) as ServerMessage[];

  // ---- 2. the token, and an earlier upload of this session --------------------------------------
  const profile = await expect200('GET', '/api/auth/profile', 'checking the token');
  const earlier = ((profile.submissions ?? []) as Json[]).filter((s) => s.metadata?.chorus_upload?.session === mark && !s.deleted);
  const same = args.new ? undefined : earlier.find((s) => s.metadata.chorus_upload.digest === digest);
  if (earlier.length && !same && !args.new)
    throw new Failure(
      `session ${args.session} was uploaded before as submission ${earlier[0]!.id}, with other content (the records changed since: new events or opt-outs); delete that submission on Research Commons, or pass --new to upload another copy`,
    );

  // ---- 3. create, then the flags the create call drops -------------------------------------------
  let id: string;
  if (same) id = String(same.id);
  else {
    const r = await call('POST', '/api/submissions', submission);
    if (r.status === 400) {
      const details = Array.isArray(r.json.details) ? (r.json.details as Json[]).slice(0, 3).map((d) => `${(d.path ?? []).join('.')}: ${d.message}`).join('; ') : '';
      throw new Failure(`Research Commons refused the submission (HTTP 400: ${r.json.error ?? ''}${details ? `: ${details}` : ''})`);
    }
    if (r.status === 413) throw new Failure('Research Commons refused the submission: over its 50 MB request limit');
    if (r.status !== 201 || typeof r.json.id !== 'string') throw new Failure(`Research Commons answered HTTP ${r.status} to the new submission${r.json.error ? ` (${r.json.error})` : ''}; nothing was changed on this side, run the same command again`);
    id = r.json.id;
  }
  const onServer = new Map((await messagesOf(id)).map((m) => [keyOf(m), m]));
  for (const m of submission.messages) {
    const there = onServer.get(keyOf(m));
    const want = hidden.has(keyOf(m));
    if (!there || Boolean(there.hidden_from_models) === want) continue;
    await expect200('POST', `/api/submissions/${id}/messages/${there.id}/hidden-from-models`, `marking a message of submission ${id} hidden from models; run the same command again to finish`, { hidden: want });
  }

  // ---- 4. read back and compare everything ------------------------------------------------------
  const readBack = await expect200('GET', `/api/submissions/${id}`, `reading back submission ${id}`);
  const back = await messagesOf(id);
  const byKey = new Map(back.map((m) => [keyOf(m), m]));
  const keyOfId = new Map(back.map((m) => [m.id, keyOf(m)]));
  const sentKeyOfId = new Map(submission.messages.map((m) => [m.id, keyOf(m)]));
  const wrong: string[] = [];
  if (readBack.metadata?.chorus_upload?.session !== mark) wrong.push('the submission does not carry this session');
  // What was sent, as JSON carries it (no undefined fields), to compare with what came back.
  const sent = JSON.parse(JSON.stringify(submission)) as typeof submission;
  const sentMessages = new Map(sent.messages.map((m) => [keyOf(m), m]));
  if (!same) for (const f of ['title', 'visibility', 'submission_type', 'source_type', 'metadata'] as const) if (!isDeepStrictEqual(readBack[f], sent[f])) wrong.push(`the submission's ${f} differs`);
  if (back.length !== submission.messages.length) wrong.push(`${back.length} messages on the server, ${submission.messages.length} sent`);
  for (const m of submission.messages) {
    const k = keyOf(m);
    const b = byKey.get(k);
    if (!b) {
      wrong.push(`message ${m.id} (${m.metadata?.type}) is missing`);
      continue;
    }
    const at = `message ${b.id} (${m.metadata?.type})`;
    if (!same && b.id !== m.id) wrong.push(`${at} has id ${b.id}, not ${m.id}`);
    const parent = (x: string | null, of: Map<string | undefined, string>) => (x === null ? null : (of.get(x) ?? `?${x}`));
    if (parent(b.parent_message_id, keyOfId) !== parent(m.parent_message_id, sentKeyOfId)) wrong.push(`${at} has another parent`);
    if (b.order !== m.order || b.participant_name !== m.participant_name || b.participant_type !== m.participant_type) wrong.push(`${at}: order, name or type differ`);
    if (m.metadata?.type !== 'header' && !isDeepStrictEqual(b.content_blocks, m.content_blocks)) wrong.push(`${at}: content differs`);
    if ((b.model_info?.model_id ?? null) !== (m.model_info?.model_id ?? null) || (b.model_info?.provider ?? null) !== (m.model_info?.provider ?? null)) wrong.push(`${at}: model_info differs`);
    if ((b.timestamp ?? null) !== (m.timestamp ?? null)) wrong.push(`${at}: timestamp differs`);
    // Made from this very submission, the server's copy is the same in every field it kept: the
    // whole model call, each message's metadata. (An earlier upload's ids and hashes are its own.)
    const { submission_id: _submission, hidden_from_models: _hidden, ...kept } = b as ServerMessage & { submission_id?: unknown };
    const want = sentMessages.get(k) as Json | undefined;
    if (!same && !isDeepStrictEqual(kept, want)) {
      const fields = Object.keys({ ...kept, ...want }).filter((f) => !isDeepStrictEqual((kept as Json)[f], want?.[f]));
      wrong.push(`${at}: ${fields.join(', ')} differ${fields.length === 1 ? 's' : ''}`);
    }
    if (Boolean(b.hidden_from_models) !== hidden.has(k)) wrong.push(`${at} should ${hidden.has(k) ? '' : 'not '}be hidden from models, and is${hidden.has(k) ? ' not' : ''}`);
  }
  if (wrong.length) throw new Failure(`submission ${id} read back does not match what was sent (${wrong.length}): ${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? '; …' : ''}`);
  const summary = `${back.length} messages, ${hidden.size} hidden from models; read back and checked: ${origin}/submissions/${id}`;
  return same ? `session ${args.session} was already uploaded as submission ${id} (not created again): ${summary}` : `uploaded session ${args.session} as submission ${id}: ${summary}`;
}

try {
  console.log(clean(await main()));
} catch (err) {
  console.error(clean(`export: ${err instanceof Failure ? err.message : `failed: ${err instanceof Error ? err.message : String(err)}`}`));
  process.exitCode = err instanceof Failure ? err.code : 1;
}

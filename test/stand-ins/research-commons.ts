// A local stand-in for a Research Commons server (anima-research/research-commons), following its
// rules as its code states them (src/types/submission.ts, src/storage/submission-store.ts,
// src/routes/submissions.ts, src/routes/auth.ts, src/middleware/auth.ts), written afresh:
// - Requests are checked with zod 3, as the server does: unknown fields are dropped without a word
//   (so `hidden_from_models` on create is lost), a schema failure is 400 `{error: 'Invalid request',
//   details, message}`.
// - The tree is checked after the schema: no message, not exactly one root, a parent missing, a model
//   message without model_info → a bare 500; only an error whose text names the tree (a cycle) is a 400.
// - Auth: no token → 401, a token it does not know → 403 `Invalid or expired token`.
// - `POST …/messages/{id}/hidden-from-models` answers 200 whatever the message id: an unknown one
//   changes nothing. Only `hidden: true` sets the flag.
// - Hidden messages (`…/hide`) are kept in a table keyed by message id alone, as the server's SQLite
//   table is: a second submission with the same ids takes the first one's rows.
// - `GET …/messages` checks no access at all (a private submission's messages are readable by anyone
//   who has its id), as the server's route does.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod/v3';

const Block = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('image'), mime_type: z.string(), data: z.string() }),
  z.object({ type: z.literal('thinking'), thinking: z.object({ content: z.string(), signature: z.string().optional() }) }),
  z.object({
    type: z.literal('tm_blob_file'),
    text: z.string(),
    id: z.string().optional(),
    sync: z.object({ at: z.string(), url: z.string(), blobID: z.number() }).optional(),
    metadata: z.object({ name: z.string(), size: z.number(), type: z.string(), characters: z.number().optional(), fileFormat: z.string().optional(), estimatedTokens: z.number().optional() }).optional(),
  }),
]);
const ModelInfo = z.object({
  model_id: z.string(),
  provider: z.string(),
  reasoning_enabled: z.boolean(),
  max_tokens: z.number().optional(),
  provider_metadata: z.record(z.unknown()).optional(),
  raw_request: z.record(z.unknown()).optional(),
  raw_response: z.record(z.unknown()).optional(),
});
const Visibility = z.enum(['public', 'unlisted', 'researcher', 'private']);
const CreateSubmission = z.object({
  title: z.string(),
  submission_type: z.enum(['conversation', 'document', 'loom']).optional(),
  source_type: z.enum(['arc-certified', 'json-upload', 'discord', 'other']),
  visibility: Visibility.optional(),
  arc_conversation_id: z.string().optional(),
  messages: z.array(
    z.object({
      id: z.string().uuid().optional(),
      parent_message_id: z.string().uuid().nullable(),
      order: z.number().int(),
      participant_name: z.string(),
      participant_type: z.enum(['human', 'model', 'system']),
      content_blocks: z.array(Block),
      model_info: ModelInfo.optional(),
      timestamp: z.coerce.date().optional(),
      metadata: z.record(z.unknown()).optional(),
    }),
  ),
  metadata: z.record(z.unknown()).optional(),
});

type Message = z.infer<typeof CreateSubmission>['messages'][number] & { id: string; submission_id: string; timestamp: Date; hidden_from_models?: true };
interface Submission {
  id: string;
  title: string;
  submitter_id: string;
  submission_type: string;
  source_type: string;
  visibility: z.infer<typeof Visibility>;
  certification_data?: { arc_conversation_id: string };
  metadata: Record<string, unknown>;
  submitted_at: Date;
  deleted?: boolean;
}
interface User {
  id: string;
  email: string;
  password: string;
  roles: string[];
}
export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  /** Whether an Authorization header came (its value is never kept). */
  authorized: boolean;
}

export interface ResearchCommonsStandIn {
  url: string;
  /** Adds an account; returns a token for it (as `POST /api/auth/login` would). */
  addUser(opts?: { email?: string; password?: string; roles?: string[] }): { id: string; token: string };
  submissions(): (Submission & { messages: Message[] })[];
  /** Message ids of the table keyed by message id alone, each with the submissions that used it. */
  messageIdOwners(): Map<string, Set<string>>;
  requests: LoggedRequest[];
  /** The next `times` requests matching answer `status` (a bare 500 `Internal server error` by default). */
  failNext(match: { method?: string; path: RegExp }, times?: number, status?: number): void;
  /** Answer hidden-from-models calls with 200 and store nothing (what an unknown message id gets). */
  ignoreHiddenFlags(on: boolean): void;
  /**
   * Store new submissions' messages without this field of model_info (a server version that kept
   * less than it was sent, answering 201 all the same); undefined: keep everything.
   */
  forgetModelInfoField(field: string | undefined): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(String(status));
    this.status = status;
    this.body = body;
  }
}

/** The server's tree rules, applied after the schema; its errors become 500 unless they name the tree. */
function checkTree(messages: Message[]): void {
  if (messages.length === 0) throw new Error('Submission must have at least one message');
  const roots = messages.filter((m) => m.parent_message_id === null);
  if (roots.length !== 1) throw new Error(`Submission must have exactly one root message, found ${roots.length}`);
  const ids = new Set(messages.map((m) => m.id));
  for (const m of messages) {
    if (m.parent_message_id !== null && !ids.has(m.parent_message_id)) throw new Error(`Message ${m.id} references non-existent parent ${m.parent_message_id}`);
    if (m.participant_type === 'model' && !m.model_info) throw new Error(`Message ${m.id} is type 'model' but missing model_info`);
  }
  const parent = new Map(messages.map((m) => [m.id, m.parent_message_id]));
  for (const m of messages) {
    const seen = new Set<string>();
    for (let cur: string | null | undefined = m.id; cur; cur = parent.get(cur)) {
      if (seen.has(cur)) throw new Error('Cycle detected in message tree');
      seen.add(cur);
    }
  }
}

export async function startResearchCommons(): Promise<ResearchCommonsStandIn> {
  const users = new Map<string, User>();
  const tokens = new Map<string, string>(); // token → user id
  const subs = new Map<string, Submission>();
  const messages = new Map<string, Map<string, Message>>(); // submission → message id → message
  const hiddenTable = new Map<string, string>(); // message id → submission (keyed by message id alone)
  const idOwners = new Map<string, Set<string>>();
  const requests: LoggedRequest[] = [];
  const faults: { method?: string; path: RegExp; times: number; status: number }[] = [];
  let ignoreHidden = false;
  let forgottenModelInfoField: string | undefined;

  const userOf = (req: IncomingMessage, required: boolean): User | undefined => {
    const token = req.headers.authorization?.split(' ')[1];
    if (!token) {
      if (required) throw new HttpError(401, { error: 'Authentication required' });
      return undefined;
    }
    const user = users.get(tokens.get(token) ?? '');
    if (!user && required) throw new HttpError(403, { error: 'Invalid or expired token' });
    return user;
  };
  const canSee = (s: Submission, u: User | undefined, listing: boolean) => {
    const isResearcher = !!u && (u.roles.includes('researcher') || u.roles.includes('admin'));
    if (s.visibility === 'public') return true;
    if (s.visibility === 'unlisted') return !listing;
    if (s.visibility === 'private') return u?.id === s.submitter_id || !!u?.roles.includes('admin');
    return isResearcher || u?.id === s.submitter_id;
  };
  const ownerOrAdmin = (s: Submission, u: User) => s.submitter_id === u.id || u.roles.includes('admin');
  const found = (id: string) => {
    const s = subs.get(id);
    if (!s) throw new HttpError(404, { error: 'Submission not found' });
    return s;
  };

  async function route(req: IncomingMessage, path: string, body: unknown): Promise<[number, unknown]> {
    const m = req.method ?? 'GET';
    let p: RegExpExecArray | null;
    if (m === 'POST' && path === '/api/auth/login') {
      const { email, password } = z.object({ email: z.string(), password: z.string() }).parse(body);
      const u = [...users.values()].find((x) => x.email === email && x.password === password);
      if (!u) return [401, { error: 'Invalid credentials' }];
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, u.id);
      return [200, { user: { id: u.id, email: u.email, roles: u.roles }, token }];
    }
    if (m === 'GET' && path === '/api/auth/profile') {
      const u = userOf(req, true)!;
      return [200, { submissions: [...subs.values()].filter((s) => !s.deleted && s.submitter_id === u.id).map((s) => ({ ...s, stats: { tag_count: 0, comment_count: 0 } })), comments: [] }];
    }
    if (m === 'POST' && path === '/api/submissions') {
      const u = userOf(req, true)!;
      const data = CreateSubmission.parse(body);
      const id = randomUUID();
      const msgs: Message[] = data.messages.map((x) => ({ ...x, id: x.id ?? randomUUID(), submission_id: id, timestamp: x.timestamp ?? new Date() }));
      checkTree(msgs);
      const s: Submission = {
        id,
        title: data.title,
        submitter_id: u.id,
        submission_type: data.submission_type ?? 'conversation',
        source_type: data.source_type,
        visibility: data.visibility ?? 'researcher',
        ...(data.arc_conversation_id ? { certification_data: { arc_conversation_id: data.arc_conversation_id } } : {}),
        metadata: data.metadata ?? {},
        submitted_at: new Date(),
      };
      subs.set(id, s);
      // A Map by id: two messages with one id leave one.
      if (forgottenModelInfoField) for (const x of msgs) delete (x.model_info as Record<string, unknown> | undefined)?.[forgottenModelInfoField];
      messages.set(id, new Map(msgs.map((x) => [x.id, x])));
      for (const x of msgs) idOwners.set(x.id, (idOwners.get(x.id) ?? new Set()).add(id));
      return [201, s];
    }
    if (m === 'GET' && path === '/api/submissions') {
      const u = userOf(req, false);
      return [200, { submissions: [...subs.values()].filter((s) => !s.deleted && canSee(s, u, true)) }];
    }
    if ((p = /^\/api\/submissions\/([^/]+)$/.exec(path))) {
      const s = found(p[1]!);
      if (m === 'DELETE') {
        const u = userOf(req, true)!;
        if (!ownerOrAdmin(s, u)) return [403, { error: 'Not authorized to delete this submission' }];
        s.deleted = true;
        return [200, { success: true }];
      }
      if (m !== 'GET') return [404, { error: 'Not found' }];
      if (!canSee(s, userOf(req, false), false)) return [403, { error: 'You do not have access to this submission' }];
      return [200, s];
    }
    if (m === 'GET' && (p = /^\/api\/submissions\/([^/]+)\/messages$/.exec(path))) {
      const list = [...(messages.get(p[1]!)?.values() ?? [])];
      if (list.length === 0 && !subs.has(p[1]!)) return [404, { error: 'Submission not found' }];
      return [200, { messages: list }];
    }
    if (m === 'GET' && (p = /^\/api\/submissions\/([^/]+)\/hidden-messages$/.exec(path))) {
      const u = userOf(req, true)!;
      const s = found(p[1]!);
      if (!ownerOrAdmin(s, u) && !u.roles.includes('researcher')) return [403, { error: 'Only researchers, admins, and submission owners can view hidden messages' }];
      return [200, { hidden_message_ids: [...hiddenTable].filter(([, sub]) => sub === s.id).map(([mid]) => mid) }];
    }
    if (m === 'POST' && (p = /^\/api\/submissions\/([^/]+)\/messages\/([^/]+)\/(hidden-from-models|hide)$/.exec(path))) {
      const u = userOf(req, true)!;
      const s = found(p[1]!);
      if (!ownerOrAdmin(s, u)) return [403, { error: 'Only admins and submission owners can change message visibility' }];
      if (p[3] === 'hide') {
        hiddenTable.set(p[2]!, s.id); // INSERT OR REPLACE keyed by message id alone
        return [200, { success: true }];
      }
      const hidden = (body as { hidden?: unknown } | undefined)?.hidden;
      const msg = messages.get(s.id)?.get(p[2]!);
      if (msg && !ignoreHidden) {
        if (hidden === true) msg.hidden_from_models = true;
        else delete msg.hidden_from_models;
      }
      return [200, { success: true, hidden_from_models: hidden }];
    }
    return [404, { error: 'Not found' }];
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, body: unknown) => {
      requests.push({ method: req.method ?? 'GET', path, status, authorized: req.headers.authorization !== undefined });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 50 * 1024 * 1024) return send(413, { error: 'request entity too large' });
      chunks.push(c);
    }
    const fault = faults.find((f) => f.times > 0 && f.path.test(path) && (!f.method || f.method === req.method));
    if (fault) {
      fault.times -= 1;
      return send(fault.status, { error: 'Internal server error' });
    }
    let body: unknown;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch {
      return send(400, { error: 'Invalid JSON' });
    }
    try {
      const [status, out] = await route(req, path, body);
      send(status, out);
    } catch (err) {
      if (err instanceof HttpError) return send(err.status, err.body);
      if (err instanceof z.ZodError) return send(400, { error: 'Invalid request', details: err.errors, message: 'Validation failed - check details for specific field errors' });
      if (err instanceof Error && err.message.includes('tree')) return send(400, { error: err.message });
      send(500, { error: 'Internal server error' });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    addUser(opts = {}) {
      const id = randomUUID();
      users.set(id, { id, email: opts.email ?? `${id}@example.org`, password: opts.password ?? 'pw', roles: opts.roles ?? [] });
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, id);
      return { id, token };
    },
    submissions: () => [...subs.values()].map((s) => ({ ...s, messages: [...(messages.get(s.id)?.values() ?? [])] })),
    messageIdOwners: () => idOwners,
    requests,
    failNext(match, times = 1, status = 500) {
      faults.push({ ...(match.method ? { method: match.method } : {}), path: match.path, times, status });
    },
    ignoreHiddenFlags(on) {
      ignoreHidden = on;
    },
    forgetModelInfoField(field) {
      forgottenModelInfoField = field;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

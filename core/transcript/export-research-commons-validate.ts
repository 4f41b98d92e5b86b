// What a Research Commons server accepts, as its own code checks it (see export-research-commons.ts
// for where the rules were read): the submission's schema, then the tree rules it enforces after.
// Pure; chorus writes no file and uploads nothing that fails here.

/** What the server's zod takes as a UUID: any 8-4-4-4-12 hex. */
export const SERVER_UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SOURCE_TYPES = ['arc-certified', 'json-upload', 'discord', 'other'];
const SUBMISSION_TYPES = ['conversation', 'document', 'loom'];
const VISIBILITIES = ['public', 'unlisted', 'researcher', 'private'];
const PARTICIPANT_TYPES = ['human', 'model', 'system'];
/** Fields the server reads; any other is dropped without a word (zod's default), so it is lost. */
const KNOWN = {
  submission: ['title', 'submission_type', 'source_type', 'visibility', 'arc_conversation_id', 'messages', 'metadata'],
  message: ['id', 'parent_message_id', 'order', 'participant_name', 'participant_type', 'content_blocks', 'model_info', 'timestamp', 'metadata'],
  model_info: ['model_id', 'provider', 'reasoning_enabled', 'max_tokens', 'provider_metadata', 'raw_request', 'raw_response'],
  text: ['type', 'text'],
  image: ['type', 'mime_type', 'data'],
  thinking: ['type', 'thinking'],
  tm_blob_file: ['type', 'text', 'id', 'sync', 'metadata'],
} as const;
/** The server's JSON body limit (express.json({ limit: '50mb' })). */
export const MAX_BODY_BYTES = 50 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDate = (v: unknown) => (typeof v === 'string' || typeof v === 'number') && !Number.isNaN(new Date(v).getTime());
const dropped = (o: Record<string, unknown>, known: readonly string[], at: string) =>
  Object.keys(o)
    .filter((k) => !known.includes(k))
    .map((k) => (k === 'hidden_from_models' ? `${at}.hidden_from_models: dropped on create; set it afterwards with POST .../messages/{id}/hidden-from-models` : `${at}.${k}: not a field the server knows; it would be dropped`));

function blockProblems(b: unknown, at: string): string[] {
  if (!isObject(b)) return [`${at}: not an object`];
  const p: string[] = [];
  const str = (v: unknown, name: string) => (typeof v === 'string' ? [] : [`${at}: ${b.type} block needs ${name} (a string)`]);
  switch (b.type) {
    case 'text':
      p.push(...str(b.text, 'text'));
      break;
    case 'image':
      p.push(...str(b.mime_type, 'mime_type'), ...str(b.data, 'data'));
      break;
    case 'thinking':
      if (!isObject(b.thinking) || typeof b.thinking.content !== 'string') p.push(`${at}: thinking block needs thinking.content`);
      else if (b.thinking.signature !== undefined && typeof b.thinking.signature !== 'string') p.push(`${at}: thinking.signature must be a string`);
      break;
    case 'tm_blob_file': {
      p.push(...str(b.text, 'text'));
      if (b.id !== undefined && typeof b.id !== 'string') p.push(`${at}.id: must be a string`);
      const s = b.sync;
      if (s !== undefined && !(isObject(s) && typeof s.at === 'string' && typeof s.url === 'string' && typeof s.blobID === 'number')) p.push(`${at}.sync: must be {at, url, blobID (a number)}`);
      const m = b.metadata;
      if (m !== undefined && !(isObject(m) && typeof m.name === 'string' && typeof m.size === 'number' && typeof m.type === 'string')) p.push(`${at}.metadata: must be {name, size (a number), type, …}`);
      break;
    }
    default:
      return [`${at}: unknown block type ${JSON.stringify(b.type)}`];
  }
  return [...p, ...dropped(b, KNOWN[b.type as keyof typeof KNOWN], at)];
}

function modelInfoProblems(mi: unknown, at: string): string[] {
  if (!isObject(mi)) return [`${at}: must be an object`];
  const p: string[] = [];
  // The server takes empty strings; chorus always knows the model, so an empty one is a bug here.
  if (typeof mi.model_id !== 'string' || !mi.model_id) p.push(`${at}.model_id: required string`);
  if (typeof mi.provider !== 'string' || !mi.provider) p.push(`${at}.provider: required string`);
  if (typeof mi.reasoning_enabled !== 'boolean') p.push(`${at}.reasoning_enabled: required boolean`);
  if (mi.max_tokens !== undefined && !(typeof mi.max_tokens === 'number' && Number.isFinite(mi.max_tokens))) p.push(`${at}.max_tokens: must be a number`);
  for (const k of ['provider_metadata', 'raw_request', 'raw_response'] as const) if (mi[k] !== undefined && !isObject(mi[k])) p.push(`${at}.${k}: must be an object (a record), not ${Array.isArray(mi[k]) ? 'a list' : typeof mi[k]}`);
  return [...p, ...dropped(mi, KNOWN.model_info, at)];
}

/**
 * The problems the server would refuse (400), answer with a bare 500 (a broken tree: no root or
 * several, a parent missing, a model message without model_info, no message at all) or take while
 * losing data (a field it drops, two messages with one id): its zod schema first, then its tree rules.
 */
export function validateSubmission(s: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(s)) return ['submission is not an object'];
  if (typeof s.title !== 'string' || !s.title) problems.push('title: required string');
  if (!SOURCE_TYPES.includes(s.source_type as string)) problems.push(`source_type: ${JSON.stringify(s.source_type)} is not one of ${SOURCE_TYPES.join(', ')}`);
  if (s.submission_type !== undefined && !SUBMISSION_TYPES.includes(s.submission_type as string)) problems.push(`submission_type: ${JSON.stringify(s.submission_type)} not allowed`);
  if (s.visibility !== undefined && !VISIBILITIES.includes(s.visibility as string)) problems.push(`visibility: ${JSON.stringify(s.visibility)} not allowed`);
  if (s.arc_conversation_id !== undefined && typeof s.arc_conversation_id !== 'string') problems.push('arc_conversation_id: must be a string');
  if (s.metadata !== undefined) {
    if (!isObject(s.metadata)) problems.push('metadata: must be an object');
    else if (s.metadata.tags !== undefined && !(Array.isArray(s.metadata.tags) && s.metadata.tags.every((t) => typeof t === 'string'))) problems.push('metadata.tags: must be a list of strings');
  }
  problems.push(...dropped(s, KNOWN.submission, 'submission').map((p) => p.replace(/^submission\./, '')));
  if (!Array.isArray(s.messages)) return [...problems, 'messages: required array'];
  if (s.messages.length === 0) problems.push('messages: the server needs at least one message');

  const ids = new Map<string, number>();
  const parents = new Map<string, string | null>();
  let roots = 0;
  s.messages.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) return void problems.push(`${at}: not an object`);
    if (m.id !== undefined) {
      if (typeof m.id !== 'string' || !SERVER_UUID_RE.test(m.id)) problems.push(`${at}.id: ${JSON.stringify(m.id)} is not a UUID`);
      else if (ids.has(m.id)) problems.push(`${at}.id: duplicate of messages[${ids.get(m.id)}]`);
      else ids.set(m.id, i);
    }
    if (m.parent_message_id === null) roots += 1;
    else if (typeof m.parent_message_id !== 'string' || !SERVER_UUID_RE.test(m.parent_message_id)) problems.push(`${at}.parent_message_id: must be a UUID or null`);
    if (typeof m.id === 'string' && (m.parent_message_id === null || typeof m.parent_message_id === 'string')) parents.set(m.id, m.parent_message_id);
    if (!Number.isInteger(m.order)) problems.push(`${at}.order: must be an integer`);
    if (typeof m.participant_name !== 'string' || !m.participant_name) problems.push(`${at}.participant_name: required string`);
    if (!PARTICIPANT_TYPES.includes(m.participant_type as string)) problems.push(`${at}.participant_type: ${JSON.stringify(m.participant_type)} is not human, model or system`);
    if (!Array.isArray(m.content_blocks)) problems.push(`${at}.content_blocks: required array`);
    else m.content_blocks.forEach((b: unknown, j: number) => problems.push(...blockProblems(b, `${at}.content_blocks[${j}]`)));
    if (m.model_info !== undefined) problems.push(...modelInfoProblems(m.model_info, `${at}.model_info`));
    if (m.participant_type === 'model' && m.model_info === undefined) problems.push(`${at}: a model message needs model_info (the server answers 500)`);
    if (m.timestamp !== undefined && !isDate(m.timestamp)) problems.push(`${at}.timestamp: not a date-time`);
    if (m.metadata !== undefined && !isObject(m.metadata)) problems.push(`${at}.metadata: must be an object`);
    if (m.id === undefined) problems.push(`${at}.id: chorus always sends its ids (the server would make one up, and the hidden-from-models calls need it)`);
    problems.push(...dropped(m, KNOWN.message, at));
  });
  if (roots !== 1) problems.push(`tree: ${roots} root messages (parent_message_id null); exactly one is allowed`);
  s.messages.forEach((m: unknown, i: number) => {
    if (isObject(m) && typeof m.parent_message_id === 'string' && SERVER_UUID_RE.test(m.parent_message_id) && !ids.has(m.parent_message_id))
      problems.push(`messages[${i}].parent_message_id: ${m.parent_message_id} names no message in this submission`);
  });
  // Every message must reach the root: a parent loop would never end.
  for (const start of parents.keys()) {
    const seen = new Set<string>();
    let cur: string | null | undefined = start;
    while (typeof cur === 'string' && !seen.has(cur)) {
      seen.add(cur);
      cur = parents.get(cur);
    }
    if (typeof cur === 'string' && seen.has(cur)) {
      problems.push(`tree: message ${start} is in a parent loop`);
      break;
    }
  }
  if (problems.length === 0 && Buffer.byteLength(JSON.stringify(s)) > MAX_BODY_BYTES) problems.push(`submission: over the server's ${MAX_BODY_BYTES / 1024 / 1024} MB request limit`);
  return problems;
}

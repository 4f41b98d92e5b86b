// Research Commons export: a session as a CreateSubmissionRequest (field rules in
// shared/design/export-targets.md). Pure; run it on events from prepareForExport.
//
// Tree shape: a single chain in event order. The root is a system message holding the session
// header and the disclosure; then each question, each of its answers, the next question, and so
// on (channel sessions: each message still standing, edits applied, deleted ones left out). Each
// message's parent is the one before it. A chain keeps the order in which things were said and
// has exactly one root by construction; who saw what is not expressed by the tree but by
// `hiddenFromModels` (and each answer's `metadata.saw`).
//
// hidden_from_models: the create request drops that field silently, so it is NOT in the
// submission. `hiddenFromModels` lists the ids of answer messages that some later answerer in the
// chain did not see, and every answer of a blind session (no answerer saw another's). After `POST /api/submissions` answers 201,
// an uploader must call `POST /api/submissions/{id}/messages/{messageId}/hidden-from-models`
// with `{"hidden": true}` for each of them, or the blind condition is lost on the server.
// Notices and errors are not conversation: they go in `metadata.notices` / `metadata.errors`.
import { createHash } from 'node:crypto';
import type { ModelTurn, Participant, TranscriptEvent } from './events.ts';
import { sessionHeader } from './export-jsonl.ts';

export type SourceType = 'arc-certified' | 'json-upload' | 'discord' | 'other';
export type SubmissionType = 'conversation' | 'document' | 'loom';
export type Visibility = 'public' | 'unlisted' | 'researcher' | 'private';
export type ParticipantType = 'human' | 'model' | 'system';

export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; mime_type: string; data: string }
  | { type: 'thinking'; thinking: { content: string; signature?: string } }
  | { type: 'tm_blob_file'; text: string; id?: string; sync?: boolean; metadata?: Record<string, unknown> };

export interface ModelInfo {
  model_id: string;
  provider: string;
  reasoning_enabled: boolean;
  max_tokens?: number;
  provider_metadata?: Record<string, unknown>;
  raw_request?: unknown;
  raw_response?: unknown;
}

export interface SubmissionMessage {
  id?: string;
  parent_message_id: string | null;
  order: number;
  participant_name: string;
  participant_type: ParticipantType;
  content_blocks: ContentBlock[];
  model_info?: ModelInfo;
  timestamp?: string;
  metadata?: Record<string, unknown>;
}

export interface CreateSubmissionRequest {
  title: string;
  source_type: SourceType;
  messages: SubmissionMessage[];
  submission_type?: SubmissionType;
  visibility?: Visibility;
  arc_conversation_id?: string;
  metadata?: Record<string, unknown>;
}

export interface ResearchCommonsOptions {
  visibility?: Visibility;
  /** Topic tags (metadata.tags); the protocol id and mode are always added. */
  tags?: string[];
  title?: string;
}

/** The namespace of chorus's derived ids (fixed forever: changing it changes every exported id). */
const CHORUS_NAMESPACE = '6f0ad6b6-1b0a-5b2e-9d0e-3c5f1c7e8a41';

/** An RFC 4122 version-5 UUID (SHA-1, namespaced): the same name always gives the same id. */
export function uuidV5(name: string, namespace: string = CHORUS_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

function modelInfo(t: ModelTurn): ModelInfo {
  return {
    model_id: t.answeredModel,
    provider: t.host.provider,
    reasoning_enabled: false,
    max_tokens: t.request.body.max_tokens,
    provider_metadata: {
      host: t.host.label,
      hostIndex: t.host.index,
      requestedModel: t.requestedModel,
      stopReason: t.stopReason,
      usage: t.usage,
      latencyMs: t.latencyMs,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      fallbacks: t.fallbacks,
    },
    raw_request: t.request.body,
  };
}

const participantType = (p: Participant): ParticipantType => (p.kind === 'human' ? 'human' : p.kind === 'persona' ? 'model' : 'system');
const participantName = (p: Participant): string => (p.kind === 'system' ? 'chorus' : p.name);

export function toResearchCommons(
  events: readonly TranscriptEvent[],
  opts: ResearchCommonsOptions = {},
): { submission: CreateSubmissionRequest; hiddenFromModels: string[] } {
  const h = sessionHeader(events);
  const idOf = (eventId: string) => uuidV5(`${h.sessionId}/${eventId}`);
  const rootId = uuidV5(`${h.sessionId}/root`);

  type Draft = Omit<SubmissionMessage, 'parent_message_id' | 'order'> & { id: string };
  const drafts: Draft[] = [];
  const headerText = [
    h.protocol ? `Interview: ${h.protocol.title} (protocol ${h.protocol.id}, sha256 ${h.protocol.sha256})` : `chorus ${h.kind} session ${h.sessionId}`,
    h.mode ? `Mode: ${h.mode}` : '',
    h.interviewer ? `Interviewer: ${h.interviewer.kind === 'human' ? h.interviewer.name : `${h.interviewer.persona.name} (auditor persona)`}` : '',
    `Roster: ${h.roster.map((r) => `${r.name} (${r.hosts.map((x) => `${x.provider}/${x.model} via ${x.label}`).join(', ')})`).join('; ')}`,
    h.disclosure ? `\nDisclosure shown to participants${h.disclosureToModels ? ' and given to the models' : ' (not given to the models)'}:\n${h.disclosure}` : '',
  ]
    .filter(Boolean)
    .join('\n');
  drafts.push({
    id: rootId,
    participant_name: 'chorus',
    participant_type: 'system',
    content_blocks: [{ type: 'text', text: headerText }],
    timestamp: h.startedAt,
    metadata: { chorus: h },
  });

  // Channel sessions: apply edits, leave out deleted messages.
  const edits = new Map<string, { text: string; at: string }[]>();
  const deleted = new Set<string>();
  for (const e of events) {
    if (e.type === 'message_edited') edits.set(e.discordMessageId, [...(edits.get(e.discordMessageId) ?? []), { text: e.text, at: e.at }]);
    if (e.type === 'message_deleted') deleted.add(e.discordMessageId);
  }
  const rosterModel = new Map(h.roster.map((r) => [r.personaId, r]));

  const earlierAnswers: { eventId: string; personaId: string }[] = [];
  const hidden = new Set<string>();
  const notices: unknown[] = [];
  const errors: unknown[] = [];
  for (const e of events) {
    if (e.type === 'question') {
      drafts.push({
        id: idOf(e.id),
        participant_name: participantName(e.askedBy),
        participant_type: participantType(e.askedBy),
        content_blocks: [{ type: 'text', text: e.text }],
        ...(e.modelTurn ? { model_info: modelInfo(e.modelTurn) } : {}),
        timestamp: e.at,
        metadata: { eventId: e.id, type: 'question', index: e.index, source: e.source, ...(e.followUpOf ? { followUpOf: idOf(e.followUpOf) } : {}) },
      });
    } else if (e.type === 'answer') {
      const saw = new Set(e.saw);
      // A blind answer is hidden outright: no answerer saw another's, whenever it answered.
      if (e.mode === 'blind') hidden.add(idOf(e.id));
      // Every earlier answer by another persona this one did not read is hidden from models.
      for (const prior of earlierAnswers) if (!saw.has(prior.eventId) && prior.personaId !== e.persona.personaId) hidden.add(idOf(prior.eventId));
      earlierAnswers.push({ eventId: e.id, personaId: e.persona.personaId });
      drafts.push({
        id: idOf(e.id),
        participant_name: e.persona.name,
        participant_type: 'model',
        content_blocks: [{ type: 'text', text: e.text }],
        model_info: modelInfo(e.modelTurn),
        timestamp: e.at,
        metadata: { eventId: e.id, type: 'answer', personaId: e.persona.personaId, questionId: idOf(e.questionId), mode: e.mode, saw: e.saw.map(idOf), host: e.modelTurn.host.label },
      });
    } else if (e.type === 'channel_message') {
      if (deleted.has(e.discordMessageId)) continue;
      const history = edits.get(e.discordMessageId) ?? [];
      const text = history.at(-1)?.text ?? e.text;
      const persona = e.author.kind === 'persona' ? rosterModel.get(e.author.personaId) : undefined;
      const host = persona?.hosts[0];
      drafts.push({
        id: idOf(e.id),
        participant_name: participantName(e.author),
        participant_type: participantType(e.author),
        content_blocks: [{ type: 'text', text: text || '(no text)' }],
        // A persona's post carries its model turn on its first piece; without one, the persona's
        // first listed host names its model.
        ...(e.author.kind === 'persona' && e.modelTurn ? { model_info: modelInfo(e.modelTurn) } : {}),
        ...(e.author.kind === 'persona' && !e.modelTurn
          ? { model_info: { model_id: host?.model ?? 'unknown', provider: host?.provider ?? 'unknown', reasoning_enabled: false, ...(persona ? { max_tokens: persona.sampling.maxTokens } : {}) } }
          : {}),
        timestamp: e.at,
        metadata: { eventId: e.id, type: 'channel_message', ...(history.length ? { edits: history } : {}), ...(e.attachments?.length ? { attachments: e.attachments } : {}) },
      });
    } else if (e.type === 'notice') notices.push({ at: e.at, text: e.text, ...(e.persona ? { persona: e.persona } : {}) });
    else if (e.type === 'error') errors.push({ at: e.at, message: e.message, ...(e.persona ? { persona: e.persona } : {}), ...(e.questionId ? { questionId: idOf(e.questionId) } : {}) });
  }

  const messages: SubmissionMessage[] = drafts.map((d, i) => ({ ...d, parent_message_id: i === 0 ? null : drafts[i - 1]!.id, order: i }));
  const ended = events.find((e) => e.type === 'session_ended');
  const tags = [...new Set(['chorus', ...(h.protocol ? [h.protocol.id] : []), ...(h.mode ? [h.mode] : []), ...(opts.tags ?? [])])];
  const submission: CreateSubmissionRequest = {
    title: opts.title ?? (h.protocol ? `${h.protocol.title} (chorus ${h.kind}, ${h.startedAt.slice(0, 10)})` : `chorus ${h.kind} session ${h.startedAt.slice(0, 10)}`),
    source_type: h.discord ? 'discord' : 'other',
    submission_type: 'conversation',
    visibility: opts.visibility ?? 'private',
    messages,
    metadata: {
      tags,
      chorus: h,
      ...(ended?.type === 'session_ended' ? { ended: { at: ended.at, reason: ended.reason, usage: ended.usage } } : {}),
      ...(notices.length ? { notices } : {}),
      ...(errors.length ? { errors } : {}),
    },
  };
  return { submission, hiddenFromModels: messages.filter((m) => m.id !== undefined && hidden.has(m.id)).map((m) => m.id!) };
}

const SOURCE_TYPES = new Set(['arc-certified', 'json-upload', 'discord', 'other']);
const SUBMISSION_TYPES = new Set(['conversation', 'document', 'loom']);
const VISIBILITIES = new Set(['public', 'unlisted', 'researcher', 'private']);
const PARTICIPANT_TYPES = new Set(['human', 'model', 'system']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function blockProblems(b: unknown, where: string): string[] {
  if (!isObject(b)) return [`${where}: not an object`];
  switch (b.type) {
    case 'text':
      return typeof b.text === 'string' ? [] : [`${where}: text block without text`];
    case 'image':
      return typeof b.mime_type === 'string' && typeof b.data === 'string' ? [] : [`${where}: image block needs mime_type and data`];
    case 'thinking':
      return isObject(b.thinking) && typeof b.thinking.content === 'string' ? [] : [`${where}: thinking block needs thinking.content`];
    case 'tm_blob_file':
      return typeof b.text === 'string' ? [] : [`${where}: tm_blob_file block needs text`];
    default:
      return [`${where}: unknown block type ${JSON.stringify(b.type)}`];
  }
}

/**
 * The problems the server would refuse (or answer with a bare 500): schema fields, enums, UUIDs,
 * exactly one root, every parent present, no cycle, every model message with model_info; plus a
 * `hidden_from_models` on create, which the server would drop silently.
 */
export function validateSubmission(s: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(s)) return ['submission is not an object'];
  if (typeof s.title !== 'string' || !s.title) problems.push('title: required string');
  if (!SOURCE_TYPES.has(s.source_type as string)) problems.push(`source_type: ${JSON.stringify(s.source_type)} is not one of ${[...SOURCE_TYPES].join(', ')}`);
  if (s.submission_type !== undefined && !SUBMISSION_TYPES.has(s.submission_type as string)) problems.push(`submission_type: ${JSON.stringify(s.submission_type)} not allowed`);
  if (s.visibility !== undefined && !VISIBILITIES.has(s.visibility as string)) problems.push(`visibility: ${JSON.stringify(s.visibility)} not allowed`);
  if (s.arc_conversation_id !== undefined && typeof s.arc_conversation_id !== 'string') problems.push('arc_conversation_id: must be a string');
  if (s.metadata !== undefined) {
    if (!isObject(s.metadata)) problems.push('metadata: must be an object');
    else if (s.metadata.tags !== undefined && !(Array.isArray(s.metadata.tags) && s.metadata.tags.every((t) => typeof t === 'string'))) problems.push('metadata.tags: must be a list of strings');
  }
  if (!Array.isArray(s.messages)) return [...problems, 'messages: required array'];

  const ids = new Map<string, number>();
  const parents = new Map<string, string | null>();
  let roots = 0;
  s.messages.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) return void problems.push(`${at}: not an object`);
    if (m.id !== undefined) {
      if (typeof m.id !== 'string' || !UUID_RE.test(m.id)) problems.push(`${at}.id: ${JSON.stringify(m.id)} is not a UUID`);
      else if (ids.has(m.id)) problems.push(`${at}.id: duplicate of messages[${ids.get(m.id)}]`);
      else ids.set(m.id, i);
    }
    if (m.parent_message_id === null) roots += 1;
    else if (typeof m.parent_message_id !== 'string' || !UUID_RE.test(m.parent_message_id)) problems.push(`${at}.parent_message_id: must be a UUID or null`);
    if (typeof m.id === 'string' && (m.parent_message_id === null || typeof m.parent_message_id === 'string')) parents.set(m.id, m.parent_message_id);
    if (!Number.isInteger(m.order)) problems.push(`${at}.order: must be an integer`);
    if (typeof m.participant_name !== 'string' || !m.participant_name) problems.push(`${at}.participant_name: required string`);
    if (!PARTICIPANT_TYPES.has(m.participant_type as string)) problems.push(`${at}.participant_type: ${JSON.stringify(m.participant_type)} is not human, model or system`);
    if (!Array.isArray(m.content_blocks)) problems.push(`${at}.content_blocks: required array`);
    else m.content_blocks.forEach((b: unknown, j: number) => problems.push(...blockProblems(b, `${at}.content_blocks[${j}]`)));
    if (m.model_info !== undefined) {
      const mi = m.model_info;
      if (!isObject(mi)) problems.push(`${at}.model_info: must be an object`);
      else {
        if (typeof mi.model_id !== 'string' || !mi.model_id) problems.push(`${at}.model_info.model_id: required string`);
        if (typeof mi.provider !== 'string' || !mi.provider) problems.push(`${at}.model_info.provider: required string`);
        if (typeof mi.reasoning_enabled !== 'boolean') problems.push(`${at}.model_info.reasoning_enabled: required boolean`);
        if (mi.max_tokens !== undefined && !Number.isInteger(mi.max_tokens)) problems.push(`${at}.model_info.max_tokens: must be an integer`);
      }
    }
    if (m.participant_type === 'model' && m.model_info === undefined) problems.push(`${at}: a model message needs model_info`);
    if (m.timestamp !== undefined && (typeof m.timestamp !== 'string' || Number.isNaN(Date.parse(m.timestamp)))) problems.push(`${at}.timestamp: not a date-time`);
    if (m.metadata !== undefined && !isObject(m.metadata)) problems.push(`${at}.metadata: must be an object`);
    if ('hidden_from_models' in m) problems.push(`${at}.hidden_from_models: dropped on create; set it afterwards with POST .../messages/{id}/hidden-from-models`);
  });
  if (roots !== 1) problems.push(`tree: ${roots} root messages (parent_message_id null); exactly one is allowed`);
  s.messages.forEach((m: unknown, i: number) => {
    if (isObject(m) && typeof m.parent_message_id === 'string' && UUID_RE.test(m.parent_message_id) && !ids.has(m.parent_message_id))
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
  return problems;
}

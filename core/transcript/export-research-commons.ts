// Research Commons export: a session as a CreateSubmissionRequest, and the server's rules
// (validateSubmission). Pure; run it on events from prepareForExport. The rules were read from
// anima-research/research-commons (src/types/submission.ts, src/storage/submission-store.ts,
// src/routes/submissions.ts) and are summarised in shared/design/export-targets.md.
//
// Tree: a single chain in event order, so exactly one root by construction: a system root with the
// session header and disclosure; each persona's consent exchange (the overview, its answer); each
// question and its answers (channels: messages still standing, edits applied). Who saw what is in
// `hiddenFromModels` (and each answer's `metadata.saw`): every blind answer, an earlier answer a
// sequential answerer did not read, every consent answer no answerer read. The create call drops
// `hidden_from_models`, so an uploader sets it afterwards per message.
//
// Speakers: a `model` message cannot be built without model_info (`Speaker`), and a message is one
// only when a model wrote it. A persona delivering words no model wrote (an auditor putting a
// scripted question) is a `system` speaker under its name, with `metadata.deliveredBy`.
// Not conversation, so in the submission's metadata: notices, errors, the consent record
// (decisions, how each was classified, withdrawals), judges' scores and topic coverage.
import { createHash } from 'node:crypto';
import type { ModelTurn, Participant, PersonaRef, TranscriptEvent } from './events.ts';
import { sessionHeader } from './export-jsonl.ts';
import { SERVER_UUID_RE } from './export-research-commons-validate.ts';

export type SourceType = 'arc-certified' | 'json-upload' | 'discord' | 'other';
export type SubmissionType = 'conversation' | 'document' | 'loom';
export type Visibility = 'public' | 'unlisted' | 'researcher' | 'private';
export type ParticipantType = 'human' | 'model' | 'system';

export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; mime_type: string; data: string }
  | { type: 'thinking'; thinking: { content: string; signature?: string } }
  | {
      type: 'tm_blob_file';
      text: string;
      id?: string;
      sync?: { at: string; url: string; blobID: number };
      metadata?: { name: string; size: number; type: string; characters?: number; fileFormat?: string; estimatedTokens?: number };
    };

export interface ModelInfo {
  model_id: string;
  provider: string;
  reasoning_enabled: boolean;
  max_tokens?: number;
  provider_metadata?: Record<string, unknown>;
  raw_request?: Record<string, unknown>;
  raw_response?: Record<string, unknown>;
}

/** Who says a message. There is no way to make a model speaker without its model_info. */
export type Speaker =
  | { participant_name: string; participant_type: 'human' | 'system'; model_info?: never }
  | { participant_name: string; participant_type: 'model'; model_info: ModelInfo };

export type SubmissionMessage = Speaker & {
  id?: string;
  parent_message_id: string | null;
  order: number;
  content_blocks: ContentBlock[];
  timestamp?: string;
  metadata?: Record<string, unknown>;
};

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
  /**
   * Research topics the submission belongs to (metadata.tags): the server reads them as topic names,
   * attaching each named topic's annotation schemes, and the public ones only to a submission with
   * none. So nothing of chorus's own goes there (the protocol and mode are in metadata.chorus).
   */
  tags?: string[];
  title?: string;
  /**
   * The namespace message ids are derived in (a UUID). The server keys some tables by message id
   * alone (hidden messages, reactions), so every upload needs its own: pass a fresh one per upload.
   * Default: chorus's fixed namespace (the same events give the same ids).
   */
  namespace?: string;
  /** Extra submission metadata (e.g. the uploader's `chorus_upload` record). */
  metadata?: Record<string, unknown>;
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

/** An RFC 4122 UUID of versions 1–8 (what chorus writes, and Inspect's rule). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** What the server's `z.string().uuid()` (zod 3) accepts: any 8-4-4-4-12 hex id. */

export function modelInfo(t: ModelTurn): ModelInfo {
  return {
    model_id: t.answeredModel,
    provider: t.host.provider,
    reasoning_enabled: t.reasoning !== undefined,
    ...(t.request.body.max_tokens === undefined ? {} : { max_tokens: t.request.body.max_tokens }),
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
      ...(t.try === undefined ? {} : { try: t.try }),
      ...(t.earlierTries ? { earlierTries: t.earlierTries } : {}),
    },
    raw_request: { ...t.request.body } as Record<string, unknown>,
  };
}

const human = (name: string): Speaker => ({ participant_name: name, participant_type: 'human' });
const system = (name = 'chorus'): Speaker => ({ participant_name: name, participant_type: 'system' });
const model = (name: string, info: ModelInfo): Speaker => ({ participant_name: name, participant_type: 'model', model_info: info });

/** A participant as a speaker: a model only when given what a model wrote the words with. */
function speakerOf(p: Participant, wrote: ModelInfo | undefined): Speaker {
  if (p.kind === 'human') return human(p.name);
  if (p.kind === 'persona' && wrote) return model(p.name, wrote);
  return system(p.kind === 'persona' ? p.name : 'chorus');
}

const delivered = (p: Participant, wrote: ModelInfo | undefined) => (p.kind === 'persona' && !wrote ? { deliveredBy: { personaId: p.personaId, name: p.name, modelWrote: false } } : {});

function headerText(h: ReturnType<typeof sessionHeader>): string {
  const interviewer = !h.interviewer
    ? ''
    : h.interviewer.kind === 'auditor'
      ? `${h.interviewer.persona.name} (auditor persona)`
      : `${h.interviewer.name}${h.interviewer.automated ? ` (chorus, ${h.interviewer.automated})` : ''}`;
  return [
    h.protocol ? `Interview: ${h.protocol.title} (protocol ${h.protocol.id}, sha256 ${h.protocol.sha256})` : `chorus ${h.kind} session ${h.sessionId}`,
    h.mode ? `Mode: ${h.mode}` : '',
    interviewer ? `Interviewer: ${interviewer}` : '',
    `Roster: ${h.roster.map((r) => `${r.name} (${r.hosts.map((x) => `${x.provider}/${x.model} via ${x.label}`).join(', ')})`).join('; ')}`,
    h.disclosure ? `\nDisclosure shown to participants${h.disclosureToModels ? ' and given to the models' : ' (not given to the models)'}:\n${h.disclosure}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

const personaOf = (p: PersonaRef) => ({ personaId: p.personaId, name: p.name });

export function toResearchCommons(
  events: readonly TranscriptEvent[],
  opts: ResearchCommonsOptions = {},
): { submission: CreateSubmissionRequest; hiddenFromModels: string[] } {
  const h = sessionHeader(events);
  const namespace = opts.namespace ?? CHORUS_NAMESPACE;
  if (!SERVER_UUID_RE.test(namespace)) throw new Error(`namespace must be a UUID, not ${JSON.stringify(namespace)}`);
  const idOf = (key: string) => uuidV5(`${h.sessionId}/${key}`, namespace);
  const start = events.find((e) => e.type === 'session_started')!;

  type Draft = Speaker & { key: string; content_blocks: ContentBlock[]; timestamp?: string; metadata: Record<string, unknown> };
  const drafts: Draft[] = [{ key: 'root', ...system(), content_blocks: [{ type: 'text', text: headerText(h) }], timestamp: h.startedAt, metadata: { eventId: start.id, type: 'header', chorus: h } }];
  const text = (t: string): ContentBlock[] => [{ type: 'text', text: t }];
  // The model's reasoning, where it showed any, goes before its words as the format's thinking block.
  const thought = (turn: ModelTurn | undefined, blocks: ContentBlock[]): ContentBlock[] => (turn?.reasoning === undefined ? blocks : [{ type: 'thinking', thinking: { content: turn.reasoning } }, ...blocks]);

  // Channel sessions: apply edits, leave out deleted messages.
  const edits = new Map<string, { text: string; at: string }[]>();
  const deleted = new Set<string>();
  for (const e of events) {
    if (e.type === 'message_edited') edits.set(e.discordMessageId, [...(edits.get(e.discordMessageId) ?? []), { text: e.text, at: e.at }]);
    if (e.type === 'message_deleted') deleted.add(e.discordMessageId);
  }
  const rosterModel = new Map(h.roster.map((r) => [r.personaId, r]));
  const seenLater = new Set(events.flatMap((e) => (e.type === 'answer' ? e.saw : [])));

  const earlierAnswers: { eventId: string; personaId: string }[] = [];
  const hidden = new Set<string>();
  const notices: unknown[] = [];
  const errors: unknown[] = [];
  const consent: Record<string, unknown>[] = [];
  const withdrawals: unknown[] = [];
  const judgements: unknown[] = [];
  const coverage: unknown[] = [];
  // A persona's post split over several Discord messages carries its model call on its first piece.
  // Which first piece a later one belongs to is read in the order they were recorded (a post's pieces
  // in one write, one after another), not the channel's order the events come in: there, another
  // answer's first piece may stand between two pieces of one post.
  const firstPieceOf = new Map<string, string>();
  const lastFirstPiece = new Map<string, string>();
  for (const e of [...events].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
    if (e.type !== 'channel_message' || e.author.kind !== 'persona') continue;
    if (e.modelTurn) lastFirstPiece.set(e.author.personaId, e.id);
    else if (lastFirstPiece.has(e.author.personaId)) firstPieceOf.set(e.id, lastFirstPiece.get(e.author.personaId)!);
  }
  const postCall = new Map<string, ModelInfo>();
  for (const e of events) {
    switch (e.type) {
      case 'consent': {
        // The overview chorus gave the persona, then its answer (which no other answerer read).
        drafts.push({ key: `${e.id}/overview`, ...system(), content_blocks: text(e.overview), timestamp: e.at, metadata: { eventId: `${e.id}/overview`, type: 'consent-overview', persona: personaOf(e.persona) } });
        drafts.push({ key: e.id, ...model(e.persona.name, modelInfo(e.modelTurn)), content_blocks: thought(e.modelTurn, text(e.text || '(no text)')), timestamp: e.at, metadata: { eventId: e.id, type: 'consent', personaId: e.persona.personaId, decision: e.decision, ...(e.conditions ? { conditions: e.conditions } : {}) } });
        if (!seenLater.has(e.id)) hidden.add(idOf(e.id));
        const by = e.classifiedBy;
        consent.push({
          persona: personaOf(e.persona),
          at: e.at,
          decision: e.decision,
          ...(e.conditions ? { conditions: e.conditions } : {}),
          classifiedBy: by.kind === 'rule' ? by : { kind: 'judge', judge: personaOf(by.judge), model: by.modelTurn.answeredModel, provider: by.modelTurn.host.provider, rationale: by.rationale },
          overviewMessageId: idOf(`${e.id}/overview`),
          answerMessageId: idOf(e.id),
        });
        break;
      }
      case 'withdrawal':
        withdrawals.push({ persona: personaOf(e.persona), at: e.at, ...(e.text ? { text: e.text } : {}), ...(e.answerId ? { answerMessageId: idOf(e.answerId) } : {}) });
        break;
      case 'judgement':
        judgements.push({
          answerMessageId: idOf(e.answerId),
          persona: personaOf(e.persona),
          judge: personaOf(e.judge),
          model: e.modelTurn.answeredModel,
          blind: e.blind,
          scores: e.scores,
          at: e.at,
        });
        break;
      case 'coverage':
        coverage.push({
          at: e.at,
          topics: e.topics.map((t) => ({ topic: t.topic, reached: t.reached, questionMessageIds: t.questionIds.map(idOf) })),
          decidedBy: e.decidedBy.kind === 'rule' ? e.decidedBy : { kind: 'judge', judge: personaOf(e.decidedBy.judge), model: e.decidedBy.modelTurn.answeredModel },
        });
        break;
      case 'question': {
        const wrote = e.modelTurn ? modelInfo(e.modelTurn) : undefined;
        drafts.push({
          key: e.id,
          ...speakerOf(e.askedBy, wrote),
          content_blocks: thought(e.modelTurn, text(e.text)),
          timestamp: e.at,
          metadata: { eventId: e.id, type: 'question', index: e.index, source: e.source, ...delivered(e.askedBy, wrote), ...(e.followUpOf ? { followUpOf: idOf(e.followUpOf) } : {}) },
        });
        break;
      }
      case 'answer': {
        const saw = new Set(e.saw);
        // A blind answer is hidden outright: no answerer saw another's, whenever it answered.
        if (e.mode === 'blind') hidden.add(idOf(e.id));
        // Every earlier answer by another persona this one did not read is hidden from models.
        for (const prior of earlierAnswers) if (!saw.has(prior.eventId) && prior.personaId !== e.persona.personaId) hidden.add(idOf(prior.eventId));
        earlierAnswers.push({ eventId: e.id, personaId: e.persona.personaId });
        drafts.push({
          key: e.id,
          ...model(e.persona.name, modelInfo(e.modelTurn)),
          content_blocks: thought(e.modelTurn, text(e.text)),
          timestamp: e.at,
          metadata: { eventId: e.id, type: 'answer', personaId: e.persona.personaId, questionId: idOf(e.questionId), mode: e.mode, saw: e.saw.map(idOf), host: e.modelTurn.host.label },
        });
        break;
      }
      case 'channel_message': {
        if (deleted.has(e.discordMessageId)) break;
        const history = edits.get(e.discordMessageId) ?? [];
        let wrote: ModelInfo | undefined;
        let source: Record<string, unknown> = {};
        if (e.author.kind === 'persona') {
          const first = firstPieceOf.get(e.id);
          const prior = first === undefined ? undefined : postCall.get(first);
          const host = rosterModel.get(e.author.personaId)?.hosts[0];
          if (e.modelTurn) {
            wrote = modelInfo(e.modelTurn);
            postCall.set(e.id, wrote);
          } else if (first !== undefined && prior) {
            // A later piece of the same post: the call that wrote it, named once (on the first piece).
            const { raw_request: _r, ...rest } = prior;
            wrote = rest;
            source = { modelCallOn: idOf(first) };
          } else if (host) {
            wrote = { model_id: host.model, provider: host.provider, reasoning_enabled: false, provider_metadata: { host: host.label, from: 'roster (no model call recorded with this post)' } };
          }
        }
        drafts.push({
          key: e.id,
          ...speakerOf(e.author, wrote),
          content_blocks: thought(e.author.kind === 'persona' ? e.modelTurn : undefined, text(history.at(-1)?.text ?? (e.text || '(no text)'))),
          timestamp: e.at,
          metadata: {
            eventId: e.id,
            type: 'channel_message',
            ...source,
            ...delivered(e.author, wrote),
            ...(e.trigger ? { answering: { reason: e.trigger.reason, depth: e.trigger.depth } } : {}),
            ...(history.length ? { edits: history } : {}),
            ...(e.attachments?.length ? { attachments: e.attachments } : {}),
          },
        });
        break;
      }
      case 'notice':
        notices.push({ at: e.at, text: e.text, ...(e.persona ? { persona: e.persona } : {}) });
        break;
      case 'error':
        errors.push({
          at: e.at,
          message: e.message,
          ...(e.persona ? { persona: e.persona } : {}),
          ...(e.questionId ? { questionMessageId: idOf(e.questionId) } : {}),
          ...('during' in e && e.during ? { during: e.during } : {}),
          ...('answerId' in e && typeof e.answerId === 'string' ? { answerMessageId: idOf(e.answerId) } : {}),
        });
        break;
      default:
        break; // header, disclosure (both in the root), pauses, edits and deletions (applied above), the end (metadata)
    }
  }

  const messages: SubmissionMessage[] = drafts.map(({ key, ...d }, i) => ({ ...d, id: idOf(key), parent_message_id: i === 0 ? null : idOf(drafts[i - 1]!.key), order: i }));
  const ended = events.find((e) => e.type === 'session_ended');
  const tags = [...new Set(opts.tags ?? [])];
  // The chain shows every message; which persona read which is in each answer's metadata.saw.
  const hiddenMeans = hidden.size
    ? { hiddenFromModels: 'marked on a message no interviewed persona answering after it read (a blind answer, a consent answer); an auditor persona and judges read every answer: each answer says what it read in metadata.saw' }
    : {};
  const submission: CreateSubmissionRequest = {
    title: opts.title ?? (h.protocol ? `${h.protocol.title} (chorus ${h.kind}, ${h.startedAt.slice(0, 10)})` : `chorus ${h.kind} session ${h.startedAt.slice(0, 10)}`),
    source_type: h.discord ? 'discord' : 'other',
    submission_type: 'conversation',
    visibility: opts.visibility ?? 'private',
    messages,
    metadata: {
      ...(tags.length ? { tags } : {}),
      chorus: h,
      ...hiddenMeans,
      ...(ended?.type === 'session_ended' ? { ended: { at: ended.at, reason: ended.reason, usage: ended.usage } } : {}),
      ...(consent.length || withdrawals.length ? { consent: { decisions: consent, withdrawals } } : {}),
      ...(judgements.length ? { judgements } : {}),
      ...(coverage.length ? { coverage } : {}),
      ...(notices.length ? { notices } : {}),
      ...(errors.length ? { errors } : {}),
      ...opts.metadata,
    },
  };
  return { submission, hiddenFromModels: messages.filter((m) => hidden.has(m.id!)).map((m) => m.id!) };
}

export { MAX_BODY_BYTES, validateSubmission } from './export-research-commons-validate.ts';

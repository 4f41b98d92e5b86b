// A session as the viewer shows it: a thread of questions, each with its answers (model, host,
// timing, usage, what the answerer saw, judge scores), consent records, coverage and the rest of the
// timeline. Built only from events that went through the exports' redaction (prepareForExport), so
// it cannot show what an opted-out person wrote. Pure.
import type { Usage } from '../core/hosts/clients.ts';
import { usageByPersona, type EventOf, type ModelTurn, type TranscriptEvent } from '../core/transcript/events.ts';
import type { SessionRow } from '../core/transcript/store.ts';
import { interviewerLabel } from './session-list.ts';

export interface TurnView {
  requestedModel: string;
  answeredModel: string;
  host: string;
  provider: string;
  /** Hosts tried first, and why they did not answer. */
  fallbacks: string[];
  stopReason: string | null;
  latencyMs: number;
  startedAt: string;
  usage: Usage | null;
  /** The exact request the model was sent, after redaction: what it saw. */
  request: unknown;
}

export interface JudgementView {
  judge: string;
  blind: boolean;
  scores: { dimension: string; value: number | null; min: number; max: number; rationale: string }[];
}

export interface AnswerView {
  id: string;
  persona: string;
  text: string;
  mode: 'sequential' | 'blind';
  /** The other answers it was shown, by persona name (none for a blind answer). */
  saw: string[];
  turn: TurnView;
  judgements: JudgementView[];
}

export interface QuestionView {
  kind: 'question';
  id: string;
  index: number;
  text: string;
  source: string;
  askedBy: string;
  /** The question number this one follows up. */
  followUpOf?: number;
  /** The auditor's own model call, when an auditor wrote it. */
  asker?: TurnView;
  answers: AnswerView[];
  /** Personas that gave no answer, and why. */
  failures: { persona: string; message: string }[];
}

export type TimelineItem =
  | QuestionView
  | { kind: 'notice'; at: string; text: string; persona?: string }
  | { kind: 'error'; at: string; message: string; persona?: string }
  | { kind: 'paused' | 'resumed'; at: string; by?: string }
  | { kind: 'ended'; at: string; reason: string }
  | { kind: 'withdrawal'; at: string; persona: string; text?: string }
  | { kind: 'message'; at: string; id: string; author: string; text: string; edited: boolean; deleted: boolean; turn?: TurnView };

export interface ConsentView {
  persona: string;
  decision: EventOf<'consent'>['decision'];
  text: string;
  conditions?: string;
  overview: string;
  classifiedBy: string;
  turn: TurnView;
}

export interface SessionView {
  id: string;
  title: string;
  kind: SessionRow['kind'];
  status: SessionRow['status'];
  createdAt: string;
  protocol?: { id: string; title: string; purpose: string; sha256: string };
  mode?: string;
  interviewer?: string;
  roster: { name: string; hosts: string[] }[];
  chorusVersion?: string;
  campaign?: { id: string; cell: string; repeat: number };
  rerunOf?: { sessionId: string; changes: string };
  disclosure?: { text: string; toModels: boolean };
  consent: ConsentView[];
  coverage?: { decidedBy: string; topics: { topic: string; reached: boolean; questions: number[] }[] };
  timeline: TimelineItem[];
  /** Tokens per persona (by name) over the session. */
  usage: { persona: string; usage: Usage }[];
}

const participantName = (p: EventOf<'question'>['askedBy'] | undefined): string | undefined =>
  p === undefined ? undefined : p.kind === 'system' ? 'chorus' : p.name;

export function turnView(t: ModelTurn): TurnView {
  return {
    requestedModel: t.requestedModel,
    answeredModel: t.answeredModel,
    host: t.host.label,
    provider: t.host.provider,
    fallbacks: t.fallbacks.map((f) => `${f.host} (${f.model}): ${f.outcome}, ${f.reason}`),
    stopReason: t.stopReason,
    latencyMs: t.latencyMs,
    startedAt: t.startedAt,
    usage: t.usage,
    request: t.request.body,
  };
}

/** The view of one session; `events` must already be redacted for export. */
export function sessionView(session: SessionRow, events: readonly TranscriptEvent[]): SessionView {
  const header = events.find((e): e is EventOf<'session_started'> => e.type === 'session_started');
  const personaNames = new Map<string, string>();
  for (const r of header?.roster ?? []) personaNames.set(r.personaId, r.name);
  const answerPersona = new Map<string, string>();
  for (const e of events) if (e.type === 'answer') answerPersona.set(e.id, e.persona.name);
  const judgements = new Map<string, JudgementView[]>();
  for (const e of events) {
    if (e.type !== 'judgement') continue;
    judgements.set(e.answerId, [...(judgements.get(e.answerId) ?? []), { judge: e.judge.name, blind: e.blind, scores: e.scores }]);
  }

  const questions = new Map<string, QuestionView>();
  const messages = new Map<string, Extract<TimelineItem, { kind: 'message' }>>();
  const timeline: TimelineItem[] = [];
  const consent: ConsentView[] = [];
  let coverage: SessionView['coverage'];
  let disclosure: SessionView['disclosure'];
  for (const e of events) {
    switch (e.type) {
      case 'disclosure':
        disclosure = { text: e.text, toModels: e.toModels };
        break;
      case 'question': {
        const q: QuestionView = {
          kind: 'question',
          id: e.id,
          index: e.index,
          text: e.text,
          source: e.source,
          askedBy: participantName(e.askedBy) ?? '?',
          ...(e.followUpOf && questions.has(e.followUpOf) ? { followUpOf: questions.get(e.followUpOf)!.index } : {}),
          ...(e.modelTurn ? { asker: turnView(e.modelTurn) } : {}),
          answers: [],
          failures: [],
        };
        questions.set(e.id, q);
        timeline.push(q);
        break;
      }
      case 'answer': {
        const answer: AnswerView = {
          id: e.id,
          persona: e.persona.name,
          text: e.text,
          mode: e.mode,
          saw: e.saw.map((id) => answerPersona.get(id) ?? 'an earlier answer'),
          turn: turnView(e.modelTurn),
          judgements: judgements.get(e.id) ?? [],
        };
        questions.get(e.questionId)?.answers.push(answer);
        break;
      }
      case 'error': {
        const q = e.questionId ? questions.get(e.questionId) : undefined;
        if (q) q.failures.push({ persona: e.persona?.name ?? '?', message: e.message });
        else timeline.push({ kind: 'error', at: e.at, message: e.message, ...(e.persona ? { persona: e.persona.name } : {}) });
        break;
      }
      case 'notice':
        timeline.push({ kind: 'notice', at: e.at, text: e.text, ...(e.persona ? { persona: e.persona.name } : {}) });
        break;
      case 'session_paused':
      case 'session_resumed': {
        const by = participantName(e.by);
        timeline.push({ kind: e.type === 'session_paused' ? 'paused' : 'resumed', at: e.at, ...(by ? { by } : {}) });
        break;
      }
      case 'session_ended':
        timeline.push({ kind: 'ended', at: e.at, reason: e.reason });
        break;
      case 'withdrawal':
        timeline.push({ kind: 'withdrawal', at: e.at, persona: e.persona.name, ...(e.text ? { text: e.text } : {}) });
        break;
      case 'consent':
        consent.push({
          persona: e.persona.name,
          decision: e.decision,
          text: e.text,
          ...(e.conditions ? { conditions: e.conditions } : {}),
          overview: e.overview,
          classifiedBy: e.classifiedBy.kind === 'rule' ? `rule: ${e.classifiedBy.rule}` : `judge ${e.classifiedBy.judge.name}: ${e.classifiedBy.rationale}`,
          turn: turnView(e.modelTurn),
        });
        break;
      case 'coverage':
        coverage = {
          decidedBy: e.decidedBy.kind === 'rule' ? `rule: ${e.decidedBy.rule}` : `judge ${e.decidedBy.judge.name}`,
          topics: e.topics.map((t) => ({ topic: t.topic, reached: t.reached, questions: t.questionIds.flatMap((id) => (questions.has(id) ? [questions.get(id)!.index] : [])) })),
        };
        break;
      case 'channel_message': {
        const item = { kind: 'message' as const, at: e.at, id: e.discordMessageId, author: participantName(e.author) ?? '?', text: e.text, edited: false, deleted: false, ...(e.modelTurn ? { turn: turnView(e.modelTurn) } : {}) };
        messages.set(e.discordMessageId, item);
        timeline.push(item);
        break;
      }
      case 'message_edited': {
        const m = messages.get(e.discordMessageId);
        if (m) Object.assign(m, { text: e.text, edited: true });
        break;
      }
      case 'message_deleted': {
        const m = messages.get(e.discordMessageId);
        if (m) m.deleted = true;
        break;
      }
      default:
        break;
    }
  }
  const ended = [...events].reverse().find((e): e is EventOf<'session_ended'> => e.type === 'session_ended');
  const usage = Object.entries(ended?.usage ?? usageByPersona(events)).map(([id, u]) => ({ persona: personaNames.get(id) ?? id, usage: u }));
  const interviewer = interviewerLabel(header?.interviewer);
  return {
    id: session.id,
    title: session.title,
    kind: session.kind,
    status: session.status,
    createdAt: session.createdAt,
    ...(header?.protocol ? { protocol: { id: header.protocol.id, title: header.protocol.title, purpose: header.protocol.purpose, sha256: header.protocol.sha256 } } : {}),
    ...(header?.mode ? { mode: header.mode } : {}),
    ...(interviewer ? { interviewer } : {}),
    roster: header?.roster.map((r) => ({ name: r.name, hosts: r.hosts.map((h) => `${h.label} (${h.model})`) })) ?? [],
    ...(header ? { chorusVersion: header.chorusVersion } : {}),
    ...(header?.campaign ? { campaign: header.campaign } : {}),
    ...(header?.rerunOf ? { rerunOf: header.rerunOf } : {}),
    ...(disclosure ? { disclosure } : {}),
    consent,
    ...(coverage ? { coverage } : {}),
    timeline,
    usage,
  };
}


// The transcript: every event of an interview session or a recorded channel, as it happened.
// This is research data: each model turn carries the exact request sent and who answered it.
// Pure types and helpers; no I/O.
import { createHash } from 'node:crypto';
import type { Usage } from '../hosts/clients.ts';
import type { HostAttempt } from '../hosts/fallback.ts';
import type { RequestBody } from '../requests.ts';
import type { ShownMessage } from './shown.ts';

/** Bumped when an event's meaning or required fields change; written on every event. */
export const TRANSCRIPT_FORMAT_VERSION = 1;

export type Participant =
  | { kind: 'human'; userId: string; name: string }
  | { kind: 'persona'; personaId: string; name: string }
  | { kind: 'system' };

/** One call to a model, as sent and as answered. */
/** A try of a turn on which no host answered, every one having failed in passing. */
export interface FailedTry {
  try: number;
  failedAt: string;
  attempts: HostAttempt[];
}

export interface ModelTurn {
  /** The exact body sent to the host (system prompt, messages or prompt, parameters). */
  request: RequestBody;
  /** The model id asked for, and the one the host says answered. */
  requestedModel: string;
  answeredModel: string;
  host: { label: string; provider: 'anthropic' | 'openai' | 'completions'; baseUrl?: string; index: number };
  /** Hosts tried before this one, in this try, and why they did not answer. */
  fallbacks: HostAttempt[];
  /**
   * Which try of the turn made this call (1: the first). A turn is tried again when every host
   * failed in passing, or when a process died before its answer was saved: an earlier try left no
   * answer, and its generation, if one began, is not this one. Absent in records made before tries
   * were counted, and for auditors' and judges' calls.
   */
  try?: number;
  /**
   * The tries before this one that ended with every host failing in passing (overloaded, rate
   * limited, cut off, silent), each with what its hosts did. A try cut short by a process's death
   * leaves none: `try` counts it. Absent when there were none.
   */
  earlierTries?: FailedTry[];
  stopReason: string | null;
  usage: Usage | null;
  /**
   * The model's reasoning, apart from its answer (a field of its own, thinking blocks, or `<think>`
   * tags in its text): recorded, never posted or read by other personas. Absent: it showed none.
   */
  reasoning?: string;
  /**
   * What the model had written when its host stopped the answer (`stopReason` refusal or
   * content_filter): recorded, never posted (a notice stood in its place) or read by later turns.
   */
  stoppedText?: string;
  startedAt: string;
  finishedAt: string;
  latencyMs: number;
  /**
   * Who said what the model was shown, and where it stands in `request`: the key to withholding a
   * person's words, and replacing their name, in exported requests (absent in records before 0.2).
   */
  shown?: ShownMessage[];
}

export interface PersonaRef {
  personaId: string;
  name: string;
}

export interface RosterEntry extends PersonaRef {
  hosts: { label: string; provider: string; model: string }[];
  lifecycle: { released?: string; deprecated?: string; retired?: string; knowledgeCutoff?: string };
  sampling: { temperature?: number; topP?: number; maxTokens: number };
}

export type Interviewer =
  | {
      kind: 'human';
      userId?: string;
      name: string;
      /**
       * Set when no person asked: chorus put the scripted questions (`script`, a headless session) or
       * replayed another session's (`replay`). Records before 0.3 leave it out (and have no userId).
       */
      automated?: 'script' | 'replay';
    }
  | { kind: 'auditor'; persona: PersonaRef; instructions: string; followUpLimit: number };

interface Base {
  /** Format version (TRANSCRIPT_FORMAT_VERSION). */
  v: number;
  /** Deterministic id: writing the same event twice (a retried job) records it once. */
  id: string;
  sessionId: string;
  /** Position in the session, assigned by the store when first written. */
  seq?: number;
  /** When it happened (ISO 8601, UTC). */
  at: string;
}

export type TranscriptEvent =
  | (Base & {
      type: 'session_started';
      kind: 'interview' | 'channel';
      chorusVersion: string;
      protocol?: { id: string; title: string; purpose: string; text: string; sha256: string };
      mode?: 'sequential' | 'blind';
      interviewer?: Interviewer;
      roster: RosterEntry[];
      discord?: { guildId?: string; channelId: string; threadId?: string };
      /** Set on a re-run: the session whose questions this one replays, and what was changed. */
      rerunOf?: { sessionId: string; changes: string };
      campaign?: {
        id: string;
        cell: string;
        repeat: number;
        /** The cell's conditions by variable (interviewer, disclosure depth, auditor stance), for reports. */
        conditions?: Record<string, string>;
      };
    })
  | (Base & {
      type: 'disclosure';
      text: string;
      /** Whether the models were given the disclosure in their context, or only the people. */
      toModels: boolean;
      discordMessageId?: string;
    })
  | (Base & {
      type: 'question';
      /** Question number in the session (1-based), follow-ups included. */
      index: number;
      text: string;
      source: 'script' | 'human' | 'auditor';
      askedBy: Participant;
      /** For a follow-up: the question it follows. */
      followUpOf?: string;
      /** Set when an auditor persona wrote the question. */
      modelTurn?: ModelTurn;
      discordMessageId?: string;
    })
  | (Base & {
      type: 'answer';
      questionId: string;
      persona: PersonaRef;
      text: string;
      mode: 'sequential' | 'blind';
      /** Event ids of the other answers the persona saw when it answered (none in blind mode). */
      saw: string[];
      modelTurn: ModelTurn;
      discordMessageIds: string[];
    })
  | (Base & { type: 'notice'; text: string; persona?: PersonaRef; discordMessageId?: string })
  | (Base & {
      type: 'error';
      message: string;
      persona?: PersonaRef;
      /** The question the persona could not answer, in an interview. */
      questionId?: string;
      /** What could not be done: ask the persona's consent, or judge an answer (then `persona` is the judge). */
      during?: 'consent' | 'judging';
      /** The answer a judge could not score. */
      answerId?: string;
      attempts?: HostAttempt[];
    })
  | (Base & { type: 'session_paused' | 'session_resumed'; by?: Participant })
  | (Base & {
      type: 'session_ended';
      /**
       * Why it ended (`follow-up-limit` appears only in records made before 0.2, for `script-finished`;
       * `no-participants`: every persona declined, withdrew or could not be asked for consent).
       */
      reason: 'script-finished' | 'auditor-closed' | 'follow-up-limit' | 'moderator' | 'error' | 'no-participants';
      usage: Record<string, Usage>;
    })
  | (Base & {
      type: 'channel_message';
      author: Participant;
      text: string;
      discordMessageId: string;
      replyToId?: string;
      attachments?: { name: string; contentType?: string }[];
      /** For a persona's post: the model call that wrote it (on the post's first piece). */
      modelTurn?: ModelTurn;
      /**
       * For a persona's post: the message it answered, why it answered (named, a reply to it, a
       * mention, /ask, or joining in unasked) and its depth in a chain of persona posts (1: answering
       * a person). On the post's first piece.
       */
      trigger?: { discordMessageId: string; reason: 'named' | 'reply' | 'mention' | 'ask' | 'interjection'; depth: number };
    })
  | (Base & {
      type: 'consent';
      /** The persona asked, before its first question. */
      persona: PersonaRef;
      /** The exact overview it was given (what the study is, who reads it, how it is published, that it may decline or stop). */
      overview: string;
      /** Its answer, as it gave it. */
      text: string;
      decision: 'agrees' | 'declines' | 'conditions';
      /** The conditions it set, in its words (decision `conditions`). */
      conditions?: string;
      /** How the answer was classified: a rule on its words, or a judge persona (with that call). */
      classifiedBy: { kind: 'rule'; rule: string } | { kind: 'judge'; judge: PersonaRef; rationale: string; modelTurn: ModelTurn };
      modelTurn: ModelTurn;
      discordMessageIds: string[];
    })
  | (Base & {
      type: 'withdrawal';
      /** A persona that stopped taking part during the session; asked nothing more. */
      persona: PersonaRef;
      /** Its words, when it said so in an answer. */
      text?: string;
      /** The answer in which it withdrew. */
      answerId?: string;
    })
  | (Base & {
      type: 'judgement';
      /** The answer judged, and who gave it. */
      answerId: string;
      /** The question it answers. */
      questionId?: string;
      persona: PersonaRef;
      judge: PersonaRef;
      /** The judge was not told which persona or model answered. */
      blind: boolean;
      /** One per dimension the protocol declares; null when the judge gave no usable score. */
      scores: { dimension: string; value: number | null; min: number; max: number; rationale: string }[];
      modelTurn: ModelTurn;
    })
  | (Base & {
      type: 'coverage';
      /** Each of the protocol's topics: reached (by these questions) or not reached — never a low score. */
      topics: { topic: string; reached: boolean; questionIds: string[] }[];
      /** Who decided: a judge persona reading the session, or a rule. */
      decidedBy: { kind: 'rule'; rule: string } | { kind: 'judge'; judge: PersonaRef; modelTurn: ModelTurn };
    })
  | (Base & { type: 'message_edited'; discordMessageId: string; text: string })
  | (Base & { type: 'message_deleted'; discordMessageId: string });

export type EventType = TranscriptEvent['type'];

/** The event of one type, e.g. `EventOf<'answer'>`. */
export type EventOf<T extends EventType> = Extract<TranscriptEvent, { type: T }>;

/** A stable id for an event from what identifies it (e.g. session, question, persona). */
export function eventId(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The event that ends a session. One id per session, whoever ends it (the moderator, the auditor,
 * the script, a recording stopped), so two enders racing record one end.
 */
export function sessionEnded(sessionId: string, at: string, reason: EventOf<'session_ended'>['reason'], usage: EventOf<'session_ended'>['usage']): EventOf<'session_ended'> {
  return { v: TRANSCRIPT_FORMAT_VERSION, id: eventId(sessionId, 'session_ended'), sessionId, at, type: 'session_ended', reason, usage };
}

/**
 * Whose words a question is, for what an opt-out withholds. A typed question is its asker's; an
 * auditor's is the auditor's; a question of the protocol's script is no person's, whoever put it
 * (`/interview next`): the moderator's opt-out does not take the protocol's questions with it. In a
 * re-run the script replays the first session's questions, some of them typed by people, and whose
 * each was is not recorded with it: there the person who put it answers for it.
 */
export function questionAuthor(q: EventOf<'question'>, rerun: boolean): Participant | undefined {
  return q.source === 'script' && !rerun ? undefined : q.askedBy;
}

/** Whether the session replays another's questions (a re-run), from its events. */
export function isRerun(events: readonly TranscriptEvent[]): boolean {
  return events.some((e) => e.type === 'session_started' && e.rerunOf !== undefined);
}

/** Token usage per persona over a session's model turns (auditor and judge turns included, under the auditor or judge). */
export function usageByPersona(events: readonly TranscriptEvent[]): Record<string, Usage> {
  const usage: Record<string, Usage> = {};
  const add = (personaId: string, u: ModelTurn['usage']) => {
    if (!u) return;
    const t = (usage[personaId] ??= { inputTokens: 0, outputTokens: 0 });
    t.inputTokens += u.inputTokens;
    t.outputTokens += u.outputTokens;
    if (u.cacheReadTokens !== undefined) t.cacheReadTokens = (t.cacheReadTokens ?? 0) + u.cacheReadTokens;
    if (u.cacheWriteTokens !== undefined) t.cacheWriteTokens = (t.cacheWriteTokens ?? 0) + u.cacheWriteTokens;
  };
  for (const e of events) {
    if (e.type === 'answer' || e.type === 'consent') add(e.persona.personaId, e.modelTurn.usage);
    if (e.type === 'question' && e.modelTurn && e.askedBy.kind === 'persona') add(e.askedBy.personaId, e.modelTurn.usage);
    // A persona's post in a recorded channel.
    if (e.type === 'channel_message' && e.modelTurn && e.author.kind === 'persona') add(e.author.personaId, e.modelTurn.usage);
    // A judge's calls count under the judge.
    if (e.type === 'consent' && e.classifiedBy.kind === 'judge') add(e.classifiedBy.judge.personaId, e.classifiedBy.modelTurn.usage);
    if (e.type === 'judgement') add(e.judge.personaId, e.modelTurn.usage);
    if (e.type === 'coverage' && e.decidedBy.kind === 'judge') add(e.decidedBy.judge.personaId, e.decidedBy.modelTurn.usage);
  }
  return usage;
}

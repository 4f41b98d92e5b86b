// Opening interview sessions and handing their steps to the queue. Used by the /interview
// commands and by headless campaigns alike; the steps themselves run in workers.
import { randomUUID } from 'node:crypto';
import type { ConnectionOptions, JobsOptions } from 'bullmq';
import { FlowProducer, Queue } from '../queues.ts';
import type { LoadedProtocol, Protocol } from '../../protocols/schema.ts';
import { hostLabel, type Persona } from '../../personas/schema.ts';
import { eventId, sessionEnded, sha256, TRANSCRIPT_FORMAT_VERSION, usageByPersona, type EventOf, type Interviewer, type Participant, type RosterEntry, type TranscriptEvent } from '../transcript/events.ts';
import type { RecordStore, SessionRow } from '../transcript/store.ts';
import { consentOverview } from './consent.ts';
import { coverageEvent, topicsOf, type Topic } from './coverage.ts';
import { judgingMissing, type JudgeTask, type Judging } from './judging.ts';
import type { SessionPlan } from './plan.ts';

export const INTERVIEW_QUEUE = 'interviews';

export type InterviewJob =
  | { step: 'advance'; sessionId: string }
  /** `key` names the question's source (a message, a scripted question): the same source is asked once. */
  | { step: 'ask'; sessionId: string; key: string; text: string; source: 'human' | 'script'; askedBy: Participant; discordMessageId?: string; scriptIndex?: number }
  | { step: 'round'; sessionId: string; questionId: string }
  | { step: 'answer'; sessionId: string; questionId: string; personaId: string }
  /** Ask one persona's consent before the first question. */
  | { step: 'consent'; sessionId: string; personaId: string }
  /** One judge scores one answer, once the session has ended. */
  | { step: 'judge'; sessionId: string; answerId: string; judgeId: string };

export interface SessionState {
  /** Made fresh when the session's records are created; see sessionKey. */
  instance?: string;
  plan: SessionPlan;
  mode: 'sequential' | 'blind';
  /** Instructions for an auditor interviewer. */
  auditorInstructions?: string;
  /** Sampling overrides for a re-run ("temperature=0.2"), applied to every answering persona. */
  overrides?: { temperature?: number; maxTokens?: number };
  /** The consent step: the overview each persona is given, and the persona classifying answers (else the rule). */
  consent?: { overview: string; judge?: string };
  /** Judges score every answer when the session ends. */
  judging?: Judging;
  /** Topics whose coverage is recorded when the session ends. */
  topics?: Topic[];
}

/**
 * What the session's queue jobs, posts and interview events are keyed by: its id and the instance
 * of its records. Finished jobs and ledger entries outlive a database in Redis; with the instance in
 * their keys, a session started again on a fresh database (the same campaign re-run after its data
 * was deleted) is never mistaken for the old one — its steps are not skipped as done, nor its
 * answers taken from the old run.
 */
export function sessionKey(sessionId: string, state: SessionState): string {
  return state.instance ? `${sessionId}.${state.instance}` : sessionId;
}

export interface InterviewQueues {
  queue: Queue<InterviewJob>;
  flows: FlowProducer;
  /** Tries and backoff of every step: a model overloaded for a while is waited out, within reason. */
  jobOpts: JobsOptions;
  close(): Promise<void>;
}

export function createInterviewQueues(connection: ConnectionOptions, prefix: string, retry: { attempts: number; backoffMs: number } = { attempts: 4, backoffMs: 2000 }): InterviewQueues {
  const queue = new Queue<InterviewJob>(INTERVIEW_QUEUE, { connection, prefix });
  const flows = new FlowProducer({ connection, prefix });
  return {
    queue,
    flows,
    jobOpts: { attempts: retry.attempts, backoff: { type: 'exponential', delay: retry.backoffMs }, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } },
    async close() {
      await flows.close();
      await queue.close();
    },
  };
}

/** Asks workers to take the session's next step (deduplicated per state of the session). */
export async function advance(queues: InterviewQueues, sessionId: string, stateKey: string | number): Promise<void> {
  await queues.queue.add('advance', { step: 'advance', sessionId }, { ...queues.jobOpts, jobId: `advance-${sessionId}-${stateKey}` });
}

/** Queues a question from outside the workers (a human interviewer, `/interview next`). */
export async function askQuestion(queues: InterviewQueues, job: Extract<InterviewJob, { step: 'ask' }>): Promise<void> {
  await queues.queue.add('ask', job, { ...queues.jobOpts, jobId: `ask-${job.sessionId}-${job.key}` });
}

/** One round: every persona answers the question, in turn (sequential) or all at once (blind). */
export async function startRound(queues: InterviewQueues, sessionId: string, questionId: string, personaIds: readonly string[], mode: 'sequential' | 'blind'): Promise<void> {
  const answer = (personaId: string) => ({
    name: 'answer',
    queueName: INTERVIEW_QUEUE,
    data: { step: 'answer', sessionId, questionId, personaId } satisfies InterviewJob,
    // A child that fails for good must not leave its round waiting for ever: the round records it.
    opts: { ...queues.jobOpts, jobId: `answer-${questionId}-${personaId}`, ignoreDependencyOnFailure: true },
  });
  // A flow's children finish before their parent: a chain makes turns, siblings run in parallel.
  type Node = ReturnType<typeof answer> & { children?: Node[] };
  let children: Node[];
  if (mode === 'blind') children = personaIds.map(answer);
  else {
    let chain: Node | undefined;
    for (const id of personaIds) chain = chain ? { ...answer(id), children: [chain] } : answer(id);
    children = chain ? [chain] : [];
  }
  await queues.flows.add({
    name: 'round',
    queueName: INTERVIEW_QUEUE,
    data: { step: 'round', sessionId, questionId } satisfies InterviewJob,
    opts: { ...queues.jobOpts, jobId: `round-${questionId}` },
    children,
  });
}

/**
 * A persona as the auditor of a protocol's session: the protocol's own auditor instructions and
 * follow-up limit when it has them, else plain defaults.
 */
export function auditorInterviewer(auditor: Persona, protocol: Protocol): Interviewer {
  const given = protocol.interviewer.kind === 'auditor' ? protocol.interviewer : undefined;
  return {
    kind: 'auditor',
    persona: { personaId: auditor.id, name: auditor.name },
    instructions: given?.instructions ?? 'You are interviewing language models. After each round, ask one short follow-up question, or reply NEXT to move on, or END to close.',
    followUpLimit: given?.followUpLimit ?? 2,
  };
}

/** Asks workers for the consent of each persona named (each once per session). */
export async function queueConsent(queues: InterviewQueues, sessionId: string, key: string, personaIds: readonly string[]): Promise<void> {
  await queues.queue.addBulk(personaIds.map((personaId) => ({ name: 'consent', data: { step: 'consent' as const, sessionId, personaId }, opts: { ...queues.jobOpts, jobId: `consent-${key}-${personaId}` } })));
}

/** Asks workers to judge each (answer, judge) given (each once). */
export async function queueJudging(queues: InterviewQueues, sessionId: string, tasks: readonly JudgeTask[]): Promise<void> {
  if (!tasks.length) return;
  await queues.queue.addBulk(tasks.map((t) => ({ name: 'judge', data: { step: 'judge' as const, sessionId, ...t }, opts: { ...queues.jobOpts, jobId: `judge-${t.answerId}-${t.judgeId}` } })));
}

/** The judgements a session still waits for (none when it has no judges). */
export function judgingLeft(events: readonly TranscriptEvent[], state: SessionState): JudgeTask[] {
  return state.judging ? judgingMissing(events, state.judging.judges) : [];
}

/**
 * Ends a session, whoever ends it: its topic coverage (when the protocol lists topics), the end event,
 * its answers to the judges (when it has any), the status. Idempotent: run again after a crash, it
 * finishes what the first run left.
 */
export async function closeSession(store: RecordStore, queues: InterviewQueues, session: SessionRow, reason: EventOf<'session_ended'>['reason'], at: string): Promise<void> {
  const state = session.state as unknown as SessionState;
  let events = await store.events(session.id);
  // Coverage of an interview in which no question was put (everyone declined) would say nothing.
  if (state.topics?.length && events.some((e) => e.type === 'question')) {
    await store.append(coverageEvent(sessionKey(session.id, state), session.id, at, events, state.topics));
  }
  await store.append(sessionEnded(session.id, at, reason, usageByPersona(events)));
  events = await store.events(session.id);
  // Judging is queued before the status says ended: whoever waits for "ended" sees it pending.
  await queueJudging(queues, session.id, judgingLeft(events, state));
  await store.updateSession(session.id, { status: 'ended' });
}

export function rosterEntry(p: Persona): RosterEntry {
  return {
    personaId: p.id,
    name: p.name,
    hosts: p.hosts.map((h) => ({ label: hostLabel(h), provider: h.provider, model: h.model })),
    lifecycle: { ...p.lifecycle },
    sampling: { ...p.sampling },
  };
}

export interface StartOptions {
  sessionId: string;
  protocol: LoadedProtocol;
  personas: Persona[];
  /** Overrides the protocol's interviewer: a human, or an auditor persona. */
  interviewer: Interviewer;
  mode: 'sequential' | 'blind';
  autoAdvance: boolean;
  chorusVersion: string;
  discord?: { guildId?: string; channelId: string; threadId?: string };
  campaign?: { id: string; cell: string; repeat: number };
  rerunOf?: { sessionId: string; changes: string };
  /** For re-runs: the questions to replay instead of the protocol's. */
  script?: string[];
  overrides?: SessionState['overrides'];
  /** Another disclosure than the protocol's (a campaign's disclosure depth). */
  disclosure?: { text: string; toModels: boolean };
  /** Judge the answers when the session ends: the protocol's judges (default), others, or none (false). */
  judging?: Judging | false;
  now: string;
}

/** Records the session's header and disclosure, then lets workers take over. Idempotent by session id. */
export async function startSession(store: RecordStore, queues: InterviewQueues, o: StartOptions): Promise<boolean> {
  const { protocol } = o.protocol;
  const plan: SessionPlan = {
    script: o.script ?? protocol.questions,
    personaIds: o.personas.map((p) => p.id),
    interviewer: o.interviewer.kind === 'auditor' ? { kind: 'auditor', personaId: o.interviewer.persona.personaId, followUpLimit: o.interviewer.followUpLimit } : { kind: 'human' },
    autoAdvance: o.autoAdvance,
    ...(protocol.consent ? { consent: true } : {}),
  };
  const judging = o.judging === false ? undefined : (o.judging ?? protocol.judging);
  const topics = topicsOf(protocol);
  const state: SessionState = {
    instance: randomUUID().slice(0, 8),
    plan,
    mode: o.mode,
    ...(o.interviewer.kind === 'auditor' ? { auditorInstructions: o.interviewer.instructions } : {}),
    ...(o.overrides ? { overrides: o.overrides } : {}),
    ...(protocol.consent ? { consent: { overview: consentOverview(protocol.consent), ...(protocol.consent.judge ? { judge: protocol.consent.judge } : {}) } } : {}),
    ...(judging ? { judging } : {}),
    ...(topics.length ? { topics } : {}),
  };
  const disclosure = o.disclosure ?? protocol.disclosure;
  const created = await store.createSession({
    id: o.sessionId,
    kind: 'interview',
    status: 'running',
    title: protocol.title,
    ...(o.discord?.guildId ? { guildId: o.discord.guildId } : {}),
    ...(o.discord ? { channelId: o.discord.threadId ?? o.discord.channelId } : {}),
    ...(o.campaign ? { campaignId: o.campaign.id } : {}),
    state: state as unknown as Record<string, unknown>,
    createdAt: o.now,
  });
  const header: TranscriptEvent = {
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(o.sessionId, 'session_started'),
    sessionId: o.sessionId,
    at: o.now,
    type: 'session_started',
    kind: 'interview',
    chorusVersion: o.chorusVersion,
    protocol: { id: protocol.id, title: protocol.title, purpose: protocol.purpose, text: o.protocol.text, sha256: sha256(o.protocol.text) },
    mode: o.mode,
    interviewer: o.interviewer,
    roster: o.personas.map(rosterEntry),
    ...(o.discord ? { discord: o.discord } : {}),
    ...(o.rerunOf ? { rerunOf: o.rerunOf } : {}),
    ...(o.campaign ? { campaign: o.campaign } : {}),
  };
  await store.append(header);
  await store.append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id: eventId(o.sessionId, 'disclosure'),
    sessionId: o.sessionId,
    at: o.now,
    type: 'disclosure',
    text: disclosure.text,
    toModels: disclosure.toModels,
  });
  // A session that existed already keeps its instance; this start then only nudges it.
  const stored = created ? state : ((await store.session(o.sessionId))?.state as unknown as SessionState | undefined);
  await advance(queues, o.sessionId, `start-${stored?.instance ?? ''}`);
  return created;
}

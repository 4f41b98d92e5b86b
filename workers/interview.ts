// Interview steps, run by workers from the `interviews` queue: ask a question, let every persona
// answer (in turn or blind), consult the auditor, end. Every step reads the session's records
// first and writes idempotent events, so a retried or taken-over job repeats nothing.
import type { Job } from 'bullmq';
import type { Host, Persona } from '../personas/schema.ts';
import { toModelTurn } from '../core/transcript/model-turn.ts';
import type { DiscordEdge, Speaker } from '../core/discord.ts';
import type { HostClient } from '../core/hosts/clients.ts';
import { askPersona, RetryableHostError, type Answered } from '../core/hosts/fallback.ts';
import { answerContext, auditorContext, parseAuditorReply } from '../core/interview/context.ts';
import { applyAuditorMove, nextStep, progress, type NextStep } from '../core/interview/plan.ts';
import { advance, sessionKey, startRound, type InterviewJob, type InterviewQueues, type SessionState } from '../core/interview/sessions.ts';
import type { Ledger } from '../core/ledger.ts';
import { describeError, type Logger } from '../core/log.ts';
import { splitMessage } from '../core/split.ts';
import { postPieces, type PostTarget } from './post.ts';
import { eventId, sessionEnded, TRANSCRIPT_FORMAT_VERSION, usageByPersona, type EventOf, type ModelTurn, type Participant, type TranscriptEvent } from '../core/transcript/events.ts';
import type { RecordStore, SessionRow } from '../core/transcript/store.ts';

export interface InterviewDeps {
  store: RecordStore;
  queues: InterviewQueues;
  personas: ReadonlyMap<string, Persona>;
  clientFor: (host: Host) => HostClient | undefined;
  ledger: Ledger;
  /** Absent for headless sessions. */
  discord?: DiscordEdge;
  maxTokens: number;
  log: Logger;
  now?: () => Date;
}

/** The session's key for events, jobs and posts (see sessionKey). */
const keyOf = (session: SessionRow) => sessionKey(session.id, session.state as unknown as SessionState);

const iso = (deps: InterviewDeps) => (deps.now?.() ?? new Date()).toISOString();

export async function processInterviewJob(job: Job<InterviewJob>, deps: InterviewDeps): Promise<string> {
  const data = job.data;
  const session = await deps.store.session(data.sessionId);
  if (!session) return 'no-session';
  const state = session.state as unknown as SessionState;
  switch (data.step) {
    case 'advance':
      return session.status === 'running' ? takeNextStep(session, state, deps) : `not-running:${session.status}`;
    case 'ask': {
      const question = { text: data.text, source: data.source, askedBy: data.askedBy, ...(data.discordMessageId ? { discordMessageId: data.discordMessageId } : {}) };
      const result = session.status === 'running' ? await ask(session, state, question, deps) : `not-running:${session.status}`;
      // A question that cannot be put now gets a clear answer in the thread, not silence.
      if (!result.startsWith('asked') && session.channelId && deps.discord) {
        const why = result.startsWith('busy:await-answers')
          ? 'the personas are still answering the last question; ask again when they are done'
          : result.startsWith('busy:ended') || session.status === 'ended'
            ? 'the interview has ended'
            : `the interview is ${session.status}`;
        await postOnce(deps, session.channelId, `refused-${job.id ?? data.text}`, undefined, `-# Not asked: ${why}.`);
      }
      return result;
    }
    case 'answer':
      return answer(session, state, data.questionId, data.personaId, deps);
    case 'round': {
      const events = await deps.store.events(session.id);
      const step = nextStep(events, state.plan);
      if (session.status === 'running' && step.kind !== 'await-human') await advance(deps.queues, session.id, `after-${data.questionId}`);
      else if (step.kind === 'await-human' && session.channelId && deps.discord) {
        await postOnce(deps, session.channelId, `round-done-${data.questionId}`, undefined, '-# Every persona has answered. Ask the next question here, or use `/interview next` for the next scripted one.');
      }
      return 'round-done';
    }
  }
}

async function takeNextStep(session: SessionRow, state: SessionState, deps: InterviewDeps): Promise<string> {
  const events = await deps.store.events(session.id);
  let step: NextStep | { kind: 'ask-follow-up'; text: string; followUpOf: string } = nextStep(events, state.plan);
  const auditor = state.plan.interviewer.kind === 'auditor' ? deps.personas.get(state.plan.interviewer.personaId) : undefined;
  const auditorParticipant: Participant | undefined = auditor ? { kind: 'persona', personaId: auditor.id, name: auditor.name } : undefined;
  let auditorTurn: ModelTurn | undefined;
  if (step.kind === 'consult-auditor') {
    if (!auditor) throw new Error(`auditor persona ${JSON.stringify(state.plan.interviewer)} is not configured`);
    const context = auditorContext(auditor, state.auditorInstructions ?? '', events, step.followUpsLeft, deps.maxTokens);
    const answered = await askOrExplain(auditor, context.prompt, deps);
    if (answered.kind !== 'answered') {
      await endSession(session, events, 'error', deps, `The auditor ${auditor.name} could not be reached; the session ends here.`);
      return 'auditor-unavailable';
    }
    auditorTurn = toModelTurn(answered);
    step = applyAuditorMove(events, state.plan, parseAuditorReply(answered.completion.text));
  }
  switch (step.kind) {
    case 'ask-script':
      return ask(session, state, { text: step.text, source: 'script', askedBy: auditorParticipant ?? { kind: 'system' } }, deps);
    case 'ask-follow-up':
      return ask(session, state, { text: step.text, source: 'auditor', askedBy: auditorParticipant!, followUpOf: step.followUpOf, ...(auditorTurn ? { modelTurn: auditorTurn } : {}) }, deps);
    case 'end':
      await endSession(session, events, step.reason, deps);
      return `ended:${step.reason}`;
    default:
      return step.kind;
  }
}

type NewQuestion = Pick<EventOf<'question'>, 'text' | 'source' | 'askedBy' | 'followUpOf' | 'modelTurn' | 'discordMessageId'>;

async function ask(session: SessionRow, state: SessionState, q: NewQuestion, deps: InterviewDeps): Promise<string> {
  const events = await deps.store.events(session.id);
  const pending = nextStep(events, state.plan);
  if (pending.kind === 'await-answers' || pending.kind === 'ended') return `busy:${pending.kind}`;
  const index = progress(events, state.plan).questions.length + 1;
  const id = eventId(keyOf(session), 'question', index);
  let discordMessageId = q.discordMessageId;
  // An auditor's or a script's question is shown in the thread; a human's is already there.
  if (!discordMessageId && session.channelId && deps.discord) {
    const speaker = q.askedBy.kind === 'persona' ? deps.personas.get(q.askedBy.personaId) : undefined;
    const text = speaker ? q.text : `**Question ${index}:** ${q.text}`;
    const ids = await postOnce(deps, session.channelId, id, speaker, text);
    discordMessageId = ids[0];
  }
  await deps.store.append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id,
    sessionId: session.id,
    at: iso(deps),
    type: 'question',
    index,
    text: q.text,
    source: q.source,
    askedBy: q.askedBy,
    ...(q.followUpOf ? { followUpOf: q.followUpOf } : {}),
    ...(q.modelTurn ? { modelTurn: q.modelTurn } : {}),
    ...(discordMessageId ? { discordMessageId } : {}),
  });
  await startRound(deps.queues, session.id, id, state.plan.personaIds, state.mode);
  return `asked:${index}`;
}

async function answer(session: SessionRow, state: SessionState, questionId: string, personaId: string, deps: InterviewDeps): Promise<string> {
  const id = eventId(keyOf(session), 'answer', questionId, personaId);
  const events = await deps.store.events(session.id);
  if (events.some((e) => e.id === id || (e.type === 'error' && e.id === eventId(keyOf(session), 'error', questionId, personaId)))) return 'already-answered';
  const persona = deps.personas.get(personaId);
  if (!persona) throw new Error(`persona ${personaId} is not configured on this worker`);
  const reader: Persona = state.overrides ? { ...persona, sampling: { ...persona.sampling, ...(state.overrides.temperature === undefined ? {} : { temperature: state.overrides.temperature }), ...(state.overrides.maxTokens ? { maxTokens: state.overrides.maxTokens } : {}) } } : persona;
  const saved = await deps.ledger.progress(id, personaId);
  let text: string;
  let turn: ModelTurn;
  let saw: string[];
  if (saved.text !== undefined && saved.meta) {
    ({ text, turn, saw } = JSON.parse(saved.meta) as { text: string; turn: ModelTurn; saw: string[] });
  } else {
    const context = answerContext(reader, events, questionId, deps.maxTokens);
    const answered = await askOrExplain(reader, context.built.prompt, deps);
    if (answered.kind !== 'answered') {
      await deps.store.append({
        v: TRANSCRIPT_FORMAT_VERSION,
        id: eventId(keyOf(session), 'error', questionId, personaId),
        sessionId: session.id,
        at: iso(deps),
        type: 'error',
        message: answered.message,
        persona: { personaId, name: persona.name },
        questionId,
        attempts: answered.attempts,
      });
      if (session.channelId && deps.discord) await postOnce(deps, session.channelId, `${id}-error`, persona, `*${persona.name} could not answer: ${answered.message}*`);
      return 'error';
    }
    text = answered.completion.text.trim() || '*(no answer)*';
    turn = toModelTurn(answered);
    saw = context.saw;
    await deps.ledger.saveText(id, personaId, text, { text, turn, saw });
  }
  // After the question's message: where a crashed attempt's unrecorded post would be.
  const asked = events.find((e): e is EventOf<'question'> => e.type === 'question' && e.id === questionId)?.discordMessageId;
  const discordMessageIds = session.channelId && deps.discord ? await postOnce(deps, session.channelId, id, persona, text, asked) : [];
  await deps.store.append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id,
    sessionId: session.id,
    at: turn.finishedAt,
    type: 'answer',
    questionId,
    persona: { personaId, name: persona.name },
    text,
    mode: state.mode,
    saw,
    modelTurn: turn,
    discordMessageIds,
  });
  return 'answered';
}

async function endSession(session: SessionRow, events: readonly TranscriptEvent[], reason: EventOf<'session_ended'>['reason'], deps: InterviewDeps, note?: string): Promise<void> {
  if (note) {
    await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(keyOf(session), 'notice', 'end'), sessionId: session.id, at: iso(deps), type: 'notice', text: note });
  }
  await deps.store.append(sessionEnded(session.id, iso(deps), reason, usageByPersona(events)));
  await deps.store.updateSession(session.id, { status: 'ended' });
  if (session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, eventId(keyOf(session), 'closing'), undefined, `-# The interview has ended (${reason}). \`/interview export\` attaches the transcript.`);
  }
}

type Outcome = Answered | { kind: 'failed'; message: string; attempts: Answered['attempts'] };

/** A model call with the queue's retry rules; hosts that all refuse become an explanation. */
async function askOrExplain(persona: Persona, prompt: Parameters<typeof askPersona>[1], deps: InterviewDeps): Promise<Outcome> {
  try {
    const result = await askPersona(persona, prompt, deps.clientFor);
    if (result.kind === 'answered') return result;
    return { kind: 'failed', message: 'no host serves this model right now', attempts: result.attempts };
  } catch (err) {
    if (err instanceof RetryableHostError) throw err; // BullMQ retries the step with backoff
    deps.log.error({ personaId: persona.id, err: describeError(err) }, 'interview model call failed');
    throw err;
  }
}

/** Posts text in the thread once per key, as a persona (webhook) or as the bot, resuming after crashes. */
async function postOnce(deps: InterviewDeps, channelId: string, key: string, persona: Persona | undefined, text: string, after?: string, notice = false): Promise<string[]> {
  const who = persona?.id ?? 'chorus';
  const speaker: Speaker | undefined = persona && { personaId: persona.id, name: persona.name, ...(persona.avatarUrl ? { avatarUrl: persona.avatarUrl } : {}) };
  const target: PostTarget = { channel: { channelId }, key, who, depth: 0, notice, ...(speaker ? { speaker } : {}), after: after ?? '0' };
  const posted = await postPieces({ discord: deps.discord!, ledger: deps.ledger }, target, splitMessage(text), await deps.ledger.progress(key, who));
  return posted.map((p) => p.id);
}

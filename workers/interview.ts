// Interview steps, run by workers from the `interviews` queue: ask a question, let every persona
// answer (in turn or blind), consult the auditor, end. Every step reads the session's records
// first and writes idempotent events, so a retried or taken-over job repeats nothing. A step that
// cannot succeed — its last try failed — records why and lets the session go on: no session waits
// for ever on one persona or one host.
import type { Job } from 'bullmq';
import type { Persona } from '../personas/schema.ts';
import { toModelTurn } from '../core/transcript/model-turn.ts';
import { locateShown } from '../core/transcript/shown.ts';
import { RetryableHostError, type HostAttempt } from '../core/hosts/fallback.ts';
import { emptyAnswerNotice, reasoned, shownAnswer } from '../core/hosts/notices.ts';
import { madeAt } from '../core/messages.ts';
import { answerContext, auditorContext, parseAuditorReply } from '../core/interview/context.ts';
import { applyAuditorMove, awaitingAnswers, nextStep, progress, quotedAnswer, takingPart, type NextStep } from '../core/interview/plan.ts';
import { advance, closeSession, startRound, type InterviewJob, type SessionState } from '../core/interview/sessions.ts';
import { describeError } from '../core/log.ts';
import { classifyDiscordError } from '../core/rest.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type EventOf, type ModelTurn, type Participant } from '../core/transcript/events.ts';
import type { SessionRow } from '../core/transcript/store.ts';
import { askOrExplain, iso, keyOf, postOnce, withOverrides, type InterviewDeps } from './interview-io.ts';
import { askConsent, judgeAnswer, noteWithdrawal, startConsent } from './interview-research.ts';

export type { InterviewDeps } from './interview-io.ts';

export async function processInterviewJob(job: Job<InterviewJob>, deps: InterviewDeps): Promise<string> {
  const data = job.data;
  const session = await deps.store.session(data.sessionId);
  if (!session) return 'no-session';
  const state = session.state as unknown as SessionState;
  const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  switch (data.step) {
    case 'advance':
      return session.status === 'running' ? takeNextStep(session, state, lastTry, deps) : `not-running:${session.status}`;
    case 'ask': {
      if (session.status !== 'running') {
        // A question that cannot be put now gets a clear answer in the thread, not silence.
        if (session.channelId && deps.discord) {
          const why = session.status === 'ended' ? 'the interview has ended' : `the interview is ${session.status}; \`/interview resume\` goes on`;
          await postOnce(deps, session.channelId, `refused-${job.id ?? data.key}`, undefined, `-# Not asked: ${why}.`, undefined, true);
        }
        return `not-running:${session.status}`;
      }
      const question = { text: data.text, source: data.source, askedBy: data.askedBy, ...(data.discordMessageId ? { discordMessageId: data.discordMessageId } : {}) };
      // Blind: a person's question repeating an answer would show it to every other persona, as an
      // auditor's would. It is not asked; the thread says why, and the record keeps that it was not.
      const quoted = data.source === 'human' && state.mode === 'blind' ? quotedAnswer(data.text, await deps.store.events(session.id)) : undefined;
      if (quoted) {
        const why = `not asked: it repeats ${quoted.name}'s answer, which a blind interview shows no other persona`;
        await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(keyOf(session), 'error', 'question-quotes', data.key), sessionId: session.id, at: iso(deps), type: 'error', message: `the interviewer's question was ${why}` });
        if (session.channelId && deps.discord) await postOnce(deps, session.channelId, `refused-${data.key}`, undefined, `-# Not asked: this question repeats ${quoted.name}'s answer, which a blind interview shows no other persona. Ask it without quoting the answer.`, data.discordMessageId, true);
        return 'not-asked:quotes-an-answer';
      }
      return ask(session, state, question, data.key, deps, data.scriptIndex === undefined ? undefined : { scriptIndex: data.scriptIndex });
    }
    case 'answer':
      return answer(session, state, data.questionId, data.personaId, lastTry, deps);
    case 'round':
      return roundDone(session, state, data.questionId, deps);
    case 'consent':
      return askConsent(session, state, data.personaId, lastTry, deps);
    case 'judge':
      return judgeAnswer(session, state, data.answerId, data.judgeId, lastTry, deps);
  }
}

/** After a question's round: whatever never came is recorded as missing, then the session moves on. */
async function roundDone(session: SessionRow, state: SessionState, questionId: string, deps: InterviewDeps): Promise<string> {
  let events = await deps.store.events(session.id);
  const answered = new Set(events.flatMap((e) => ((e.type === 'answer' || e.type === 'error') && e.questionId === questionId && e.persona ? [e.persona.personaId] : [])));
  for (const personaId of takingPart(events, state.plan).active.filter((id) => !answered.has(id))) {
    const persona = deps.personas.get(personaId);
    await recordNoAnswer(session, questionId, personaId, persona?.name ?? personaId, 'its answer step failed for good', [], deps);
  }
  events = await deps.store.events(session.id);
  // A question asked while this round ran is next.
  const waiting = awaitingAnswers(events, state.plan);
  if (waiting) {
    await startRound(deps.queues, session.id, waiting.questionId, waiting.missing, state.mode);
    return 'round-done:next-question';
  }
  const step = nextStep(events, state.plan);
  if (session.status === 'running' && step.kind !== 'await-human') await advance(deps.queues, session.id, `after-${questionId}`);
  else if (step.kind === 'await-human' && session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, `round-done-${questionId}`, undefined, '-# Every persona has answered. Ask the next question here, or use `/interview next` for the next scripted one.', undefined, true);
  }
  return 'round-done';
}

async function takeNextStep(session: SessionRow, state: SessionState, lastTry: boolean, deps: InterviewDeps): Promise<string> {
  const events = await deps.store.events(session.id);
  let step: NextStep | { kind: 'ask-follow-up'; text: string; followUpOf: string } = nextStep(events, state.plan);
  const auditor = state.plan.interviewer.kind === 'auditor' ? deps.personas.get(state.plan.interviewer.personaId) : undefined;
  const auditorParticipant: Participant | undefined = auditor ? { kind: 'persona', personaId: auditor.id, name: auditor.name } : undefined;
  let auditorTurn: ModelTurn | undefined;
  // Once the auditor's move is acted on (its question recorded, or the session ended), the reply
  // saved for a re-run can go: the whole model call would otherwise stay in Redis for the ledger's TTL.
  let actedOn = async <T>(result: T): Promise<T> => result;
  if (step.kind === 'consult-auditor') {
    if (!auditor) throw new Error(`auditor persona ${JSON.stringify(state.plan.interviewer)} is not configured`);
    // The auditor's reply is saved before it is acted on: a step killed after posting its follow-up
    // acts on the same reply again (and finds the post), never on a new one beside an orphaned post.
    const key = eventId(keyOf(session), 'auditor-turn', progress(events, state.plan).questions.length);
    actedOn = async (result) => {
      await deps.ledger.markDone(key, auditor.id);
      return result;
    };
    const saved = await deps.ledger.progress(key, auditor.id);
    let reply: { text: string; turn: ModelTurn } | undefined = saved.text !== undefined && saved.meta ? (JSON.parse(saved.meta) as { text: string; turn: ModelTurn }) : undefined;
    const followUpsLeft = step.followUpsLeft;
    const answered = reply ? undefined : await askOrExplain(auditor, { budget: deps.maxTokens, build: (tokens) => auditorContext(auditor, state.auditorInstructions ?? '', events, followUpsLeft, tokens, state.mode === 'blind') }, lastTry, deps);
    if (answered?.kind === 'answered') {
      reply = { text: answered.completion.text, turn: toModelTurn(answered) };
      await deps.ledger.saveText(key, auditor.id, reply.text, reply);
    }
    /** No follow-up this time: why is recorded, and the script goes on. */
    const withoutFollowUp = async (what: string, message: string, attempts?: HostAttempt[]) => {
      const at = progress(events, state.plan).questions.length;
      await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id: eventId(keyOf(session), 'error', what, at), sessionId: session.id, at: iso(deps), type: 'error', message, persona: { personaId: auditor.id, name: auditor.name }, ...(attempts ? { attempts } : {}) });
      return applyAuditorMove(events, state.plan, { kind: 'next' });
    };
    if (reply) {
      auditorTurn = reply.turn;
      step = applyAuditorMove(events, state.plan, parseAuditorReply(reply.text));
      // Blind: a follow-up repeating an answer would show it to every other persona.
      const quoted = step.kind === 'ask-follow-up' && state.mode === 'blind' ? quotedAnswer(step.text, events) : undefined;
      if (quoted) step = await withoutFollowUp('follow-up-quotes', `the auditor ${auditor.name}'s follow-up was not asked: it repeats ${quoted.name}'s answer, which a blind interview shows no other persona`);
    } else if (answered && answered.kind !== 'answered') {
      step = await withoutFollowUp('auditor', `the auditor ${auditor.name} could not be reached (${answered.message}); the scripted questions go on without its follow-up`, answered.attempts);
    }
  }
  switch (step.kind) {
    case 'ask-consent':
      await startConsent(session, state, step.personaIds, deps);
      return 'asking-consent';
    case 'ask-script':
      return actedOn(await ask(session, state, { text: step.text, source: 'script', askedBy: auditorParticipant ?? { kind: 'system' } }, `script-${step.scriptIndex}`, deps, step));
    case 'ask-follow-up': {
      const n = progress(events, state.plan).followUps + 1;
      return actedOn(await ask(session, state, { text: step.text, source: 'auditor', askedBy: auditorParticipant!, followUpOf: step.followUpOf, ...(auditorTurn ? { modelTurn: auditorTurn } : {}) }, `follow-up-${n}`, deps));
    }
    case 'end':
      await endSession(session, step.reason, deps);
      return actedOn(`ended:${step.reason}`);
    case 'ended': {
      // Its end is recorded but its status is not: a step crashed while closing it. Finish closing.
      const ended = events.find((e): e is EventOf<'session_ended'> => e.type === 'session_ended')!;
      await closeSession(deps.store, deps.queues, session, ended.reason, ended.at);
      return 'ended';
    }
    default:
      return step.kind;
  }
}

type NewQuestion = Pick<EventOf<'question'>, 'text' | 'source' | 'askedBy' | 'followUpOf' | 'modelTurn' | 'discordMessageId'>;

/**
 * Records a question (numbered by the store, so two asked at once are both kept, in order) and starts
 * the round of the first question still waiting for answers: questions asked during a round wait.
 */
async function ask(session: SessionRow, state: SessionState, q: NewQuestion, sourceKey: string, deps: InterviewDeps, script?: { scriptIndex: number }): Promise<string> {
  const id = eventId(keyOf(session), 'question', sourceKey);
  let discordMessageId = q.discordMessageId;
  // An auditor's or a script's question is shown in the thread; a human's is already there.
  if (!discordMessageId && session.channelId && deps.discord) {
    const speaker = q.askedBy.kind === 'persona' ? deps.personas.get(q.askedBy.personaId) : undefined;
    const text = speaker ? q.text : `**Question${script ? ` ${script.scriptIndex + 1} of ${state.plan.script.length}` : ''}:** ${q.text}`;
    discordMessageId = (await postOnce(deps, session.channelId, id, speaker, text))[0];
  }
  const askedAt = discordMessageId ? madeAt(discordMessageId) : undefined;
  const { index } = await deps.store.appendQuestion({
    v: TRANSCRIPT_FORMAT_VERSION,
    id,
    sessionId: session.id,
    // When it was asked, as Discord shows it: a person's question typed while the gateway was away
    // is handled seconds or minutes later, and a step tried again later still.
    at: askedAt === undefined ? iso(deps) : new Date(askedAt).toISOString(),
    type: 'question',
    text: q.text,
    source: q.source,
    askedBy: q.askedBy,
    ...(q.followUpOf ? { followUpOf: q.followUpOf } : {}),
    ...(q.modelTurn ? { modelTurn: q.modelTurn } : {}),
    ...(discordMessageId ? { discordMessageId } : {}),
  });
  // Its round starts now only if no earlier question is still being answered; else the round
  // before it starts it when done.
  const waiting = awaitingAnswers(await deps.store.events(session.id), state.plan);
  if (waiting?.questionId !== id) return `queued:${index}`;
  await startRound(deps.queues, session.id, id, waiting.missing, state.mode);
  return `asked:${index}`;
}

async function answer(session: SessionRow, state: SessionState, questionId: string, personaId: string, lastTry: boolean, deps: InterviewDeps): Promise<string> {
  const id = eventId(keyOf(session), 'answer', questionId, personaId);
  const events = await deps.store.events(session.id);
  const recorded = events.find((e): e is EventOf<'answer'> => e.id === id && e.type === 'answer');
  if (recorded) {
    await noteWithdrawal(session, recorded, deps); // in case a crash came between the two
    return 'already-answered';
  }
  if (events.some((e) => e.type === 'error' && e.id === eventId(keyOf(session), 'error', questionId, personaId))) return 'already-answered';
  // One that declined or withdrew is asked nothing more.
  if (!takingPart(events, state.plan).active.includes(personaId)) return 'not-taking-part';
  const persona = deps.personas.get(personaId);
  if (!persona) {
    // Another worker may know it (a deploy that adds a persona reaches the workers one by one):
    // the step is tried again, and only its last try records that the persona did not answer.
    if (!lastTry) throw new Error(`persona ${personaId} is not configured on this worker; the step will be tried again`);
    await recordNoAnswer(session, questionId, personaId, personaId, 'this persona is not configured on the workers', [], deps);
    return 'error';
  }
  const reader = withOverrides(persona, state);
  const saved = await deps.ledger.progress(id, personaId);
  let text: string;
  let turn: ModelTurn;
  let saw: string[];
  if (saved.text !== undefined && saved.meta) {
    ({ text, turn, saw } = JSON.parse(saved.meta) as { text: string; turn: ModelTurn; saw: string[] });
  } else {
    const build = (tokens: number) => {
      const context = answerContext(reader, events, questionId, tokens);
      return { ...context, prompt: context.built.prompt };
    };
    // Counted before the call: a try that dies mid-answer is counted too.
    const tryNumber = await deps.ledger.startAttempt(id, personaId);
    const answered = await askOrExplain(reader, { budget: deps.maxTokens, build }, lastTry, deps).catch(async (err: unknown) => {
      // The step is tried again: what each host did on this try goes into the record of the try that answers.
      if (err instanceof RetryableHostError) await deps.ledger.noteFailedTry(id, personaId, { try: tryNumber, failedAt: iso(deps), attempts: err.attempts });
      throw err;
    });
    if (answered.kind !== 'answered') {
      await recordNoAnswer(session, questionId, personaId, persona.name, answered.message, answered.attempts, deps, persona);
      await deps.ledger.markDone(id, personaId); // recorded: its tries' notes can go
      return 'error';
    }
    // An empty answer is recorded as it was (no text); the thread shows why there is none.
    text = answered.completion.text.trim();
    const context = answered.context;
    turn = toModelTurn(answered, locateShown(answered.request.body, context.built.kept, context.built.prompt.system), tryNumber, saved.failedTries);
    saw = context.saw;
    await deps.ledger.saveText(id, personaId, text, { text, turn, saw });
  }
  // After the question's message: where a crashed attempt's unrecorded post would be.
  const asked = events.find((e): e is EventOf<'question'> => e.type === 'question' && e.id === questionId)?.discordMessageId;
  let discordMessageIds: string[] = [];
  if (session.channelId && deps.discord) {
    try {
      discordMessageIds = await postOnce(deps, session.channelId, id, persona, text ? shownAnswer(persona, text, turn.stopReason) : emptyAnswerNotice(persona, turn.stopReason, reasoned(turn)), asked, !text);
    } catch (err) {
      // The answer is research data whether or not Discord shows it: on the last try, keep it.
      if (!lastTry) throw err;
      deps.log.error({ sessionId: session.id, personaId, err: describeError(err) }, 'an interview answer could not be posted; it is recorded');
    }
  }
  const answerEvent: EventOf<'answer'> = {
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
  };
  await deps.store.append(answerEvent);
  await deps.ledger.markDone(id, personaId); // recorded: the answer saved for a retry can go
  return (await noteWithdrawal(session, answerEvent, deps)) ? 'answered:withdrew' : 'answered';
}

/** A persona that will not answer this question: why, recorded, and said in the thread. */
async function recordNoAnswer(session: SessionRow, questionId: string, personaId: string, name: string, why: string, attempts: HostAttempt[], deps: InterviewDeps, persona?: Persona): Promise<void> {
  const id = eventId(keyOf(session), 'error', questionId, personaId);
  await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id, sessionId: session.id, at: iso(deps), type: 'error', message: why, persona: { personaId, name }, questionId, attempts });
  if (session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, id, persona, `*${name} could not answer: ${why}.*`, undefined, true).catch((err: unknown) =>
      deps.log.warn({ sessionId: session.id, err: describeError(err) }, 'could not post a no-answer notice'),
    );
  }
}

/**
 * Says the interview has ended, then closes it. In this order: once closed, no step of the session
 * runs again, so a notice left for after (a kill, an answer Discord lost) was never posted. A
 * passing failure retries the step; Discord refusing the notice for good does not keep it open.
 */
async function endSession(session: SessionRow, reason: EventOf<'session_ended'>['reason'], deps: InterviewDeps): Promise<void> {
  if (session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, eventId(keyOf(session), 'closing'), undefined, `-# The interview has ended (${reason}). \`/interview export\` attaches the transcript.`, undefined, true).catch((err: unknown) => {
      const kind = classifyDiscordError(err);
      if (kind === undefined || kind === 'transient') throw err;
      deps.log.warn({ sessionId: session.id, err: describeError(err) }, 'could not post the closing notice');
    });
  }
  await closeSession(deps.store, deps.queues, session, reason, iso(deps));
  // The thread is an interview no more: what is said there after is said as anywhere else (and its
  // mark would otherwise stay in Redis for good). Only this session's mark: never a later one's.
  if (session.channelId && deps.live && (await deps.live.of(session.channelId))?.sessionId === session.id) await deps.live.clear(session.channelId);
}

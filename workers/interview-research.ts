// The research steps of an interview: each persona's consent before the first question, a
// withdrawal noticed in an answer, and a judge scoring an answer once the session has ended. Like
// every step they read the records first and write idempotent events; the model's words are saved
// in the ledger before anything else is called, so a retry never asks the model twice.
import { consentContext, consentJudgeContext, classifyConsent, parseConsentJudgement, withdraws } from '../core/interview/consent.ts';
import { disclosed } from '../core/interview/context.ts';
import { judgeContext, parseScores, type Identity } from '../core/interview/judging.ts';
import { awaitingAnswers, nextStep, takingPart } from '../core/interview/plan.ts';
import { advance, queueConsent, startRound, type SessionState } from '../core/interview/sessions.ts';
import { describeError } from '../core/log.ts';
import { eventId, TRANSCRIPT_FORMAT_VERSION, type EventOf, type ModelTurn, type RosterEntry } from '../core/transcript/events.ts';
import { toModelTurn } from '../core/transcript/model-turn.ts';
import type { SessionRow } from '../core/transcript/store.ts';
import type { Persona } from '../personas/schema.ts';
import { askOrExplain, iso, keyOf, postOnce, withOverrides, type InterviewDeps } from './interview-io.ts';

const quote = (s: string) => s.trim().split('\n').map((l) => `> ${l}`).join('\n');

/** Shows the overview once in the thread, then asks each persona named. */
export async function startConsent(session: SessionRow, state: SessionState, personaIds: readonly string[], deps: InterviewDeps): Promise<void> {
  if (!state.consent) return;
  if (session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, eventId(keyOf(session), 'consent-overview'), undefined, `-# Before the first question, each persona is asked, on its own:\n${quote(state.consent.overview)}`, undefined, true);
  }
  await queueConsent(deps.queues, session.id, keyOf(session), personaIds);
}

type Classified = Pick<EventOf<'consent'>, 'decision' | 'conditions' | 'classifiedBy'>;

/** Asks one persona, classifies its answer (by the judge persona, else the rule), records and shows it. */
export async function askConsent(session: SessionRow, state: SessionState, personaId: string, lastTry: boolean, deps: InterviewDeps): Promise<string> {
  if (!state.consent) return 'no-consent-step';
  const key = keyOf(session);
  const id = eventId(key, 'consent', personaId);
  const errorId = eventId(key, 'error', 'consent', personaId);
  const events = await deps.store.events(session.id);
  if (events.some((e) => e.id === id || e.id === errorId)) return afterConsent(session, state, deps, 'already-asked');
  const persona = deps.personas.get(personaId);
  const name = persona?.name ?? personaId;
  const unreachable = async (why: string, attempts: EventOf<'error'>['attempts'] = []) => {
    await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id: errorId, sessionId: session.id, at: iso(deps), type: 'error', message: `could not be asked for its consent: ${why}; it takes no part`, persona: { personaId, name }, during: 'consent', attempts });
    if (session.channelId && deps.discord) await postOnce(deps, session.channelId, errorId, undefined, `-# **${name}** could not be asked for its consent (${why}); it takes no part.`, undefined, true);
    return afterConsent(session, state, deps, 'unreachable');
  };
  if (!persona) return unreachable('this persona is not configured on the workers');

  const saved = await deps.ledger.progress(id, personaId);
  let text: string;
  let turn: ModelTurn;
  if (saved.text !== undefined && saved.meta) ({ text, turn } = JSON.parse(saved.meta) as { text: string; turn: ModelTurn });
  else {
    const reader = withOverrides(persona, state);
    const answered = await askOrExplain(reader, { budget: deps.maxTokens, build: (tokens) => consentContext(disclosed(reader, events), state.consent!.overview, tokens) }, lastTry, deps);
    if (answered.kind !== 'answered') return unreachable(answered.message, answered.attempts);
    text = answered.completion.text.trim();
    turn = toModelTurn(answered);
    await deps.ledger.saveText(id, personaId, text, { text, turn });
  }
  const classified = await classify(state.consent, text, lastTry, deps);
  const line =
    classified.decision === 'agrees'
      ? `-# Consent: **${name}** agrees to take part.`
      : classified.decision === 'conditions'
        ? `-# Consent: **${name}** agrees on conditions: “${(classified.conditions ?? '').slice(0, 300)}”`
        : `-# Consent: **${name}** declines; it is asked nothing in this interview.`;
  let discordMessageIds: string[] = [];
  if (session.channelId && deps.discord) {
    try {
      discordMessageIds = await postOnce(deps, session.channelId, id, undefined, line, undefined, true);
    } catch (err) {
      if (!lastTry) throw err;
      deps.log.error({ sessionId: session.id, personaId, err: describeError(err) }, 'a consent line could not be posted; it is recorded');
    }
  }
  await deps.store.append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id,
    sessionId: session.id,
    at: turn.finishedAt,
    type: 'consent',
    persona: { personaId, name },
    overview: state.consent.overview,
    text,
    ...classified,
    modelTurn: turn,
    discordMessageIds,
  });
  await deps.ledger.markDone(id, personaId); // recorded: the answer saved for a retry can go
  return afterConsent(session, state, deps, `consent:${classified.decision}`);
}

async function classify(consent: NonNullable<SessionState['consent']>, text: string, lastTry: boolean, deps: InterviewDeps): Promise<Classified> {
  const byRule = (note = ''): Classified => {
    const r = classifyConsent(text);
    return { decision: r.decision, ...(r.conditions ? { conditions: r.conditions } : {}), classifiedBy: { kind: 'rule', rule: `${r.rule}${note}` } };
  };
  const judge = consent.judge ? deps.personas.get(consent.judge) : undefined;
  if (!judge) return byRule(consent.judge ? ` (the judge ${consent.judge} is not configured on the workers)` : '');
  const answered = await askOrExplain(judge, { budget: deps.maxTokens, build: (tokens) => consentJudgeContext(judge, consent.overview, text, tokens) }, lastTry, deps);
  if (answered.kind !== 'answered') return byRule(` (the judge ${judge.name} could not be reached: ${answered.message})`);
  const read = parseConsentJudgement(answered.completion.text);
  if (!read) return byRule(` (the judge ${judge.name}'s reply could not be read)`);
  return {
    decision: read.decision,
    ...(read.conditions ? { conditions: read.conditions } : {}),
    classifiedBy: { kind: 'judge', judge: { personaId: judge.id, name: judge.name }, rationale: read.rationale, modelTurn: toModelTurn(answered) },
  };
}

/** Once every persona has answered: the first question (or one already asked) goes to those who take part. */
async function afterConsent(session: SessionRow, state: SessionState, deps: InterviewDeps, result: string): Promise<string> {
  const events = await deps.store.events(session.id);
  const part = takingPart(events, state.plan);
  if (part.pending.length) return result;
  const waiting = awaitingAnswers(events, state.plan);
  if (waiting) await startRound(deps.queues, session.id, waiting.questionId, waiting.missing, state.mode);
  else if (nextStep(events, state.plan).kind !== 'await-human') await advance(deps.queues, session.id, 'consent-done');
  else if (session.channelId && deps.discord) {
    const names = part.active.map((id) => deps.personas.get(id)?.name ?? id);
    await postOnce(deps, session.channelId, eventId(keyOf(session), 'consent-done'), undefined, `-# Consent asked: ${names.length ? `${names.join(', ')} take${names.length === 1 ? 's' : ''} part` : 'no persona takes part'}. ${names.length ? 'Ask the first question here, or use `/interview next`.' : ''}`.trim(), undefined, true);
  }
  return result;
}

/** When an answer clearly withdraws, records the withdrawal (once) and says so in the thread. */
export async function noteWithdrawal(session: SessionRow, answer: EventOf<'answer'>, deps: InterviewDeps): Promise<boolean> {
  if (!withdraws(answer.text)) return false;
  const id = eventId(keyOf(session), 'withdrawal', answer.persona.personaId);
  await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id, sessionId: session.id, at: iso(deps), type: 'withdrawal', persona: answer.persona, text: answer.text, answerId: answer.id });
  if (session.channelId && deps.discord) {
    await postOnce(deps, session.channelId, id, undefined, `-# **${answer.persona.name}** has withdrawn and is asked nothing more.`, undefined, true).catch((err: unknown) =>
      deps.log.warn({ sessionId: session.id, err: describeError(err) }, 'could not post a withdrawal line'),
    );
  }
  return true;
}

function identity(entry: Pick<RosterEntry, 'personaId' | 'name'> & { hosts?: RosterEntry['hosts'] }, persona: Persona | undefined): Identity {
  return { personaId: entry.personaId, name: entry.name, aliases: persona?.aliases ?? [], models: [...(entry.hosts?.map((h) => h.model) ?? []), ...(persona?.hosts.map((h) => h.model) ?? [])] };
}

/** One judge scores one answer on every dimension; what it cannot score is null. */
export async function judgeAnswer(session: SessionRow, state: SessionState, answerId: string, judgeId: string, lastTry: boolean, deps: InterviewDeps): Promise<string> {
  const judging = state.judging;
  if (!judging) return 'no-judging';
  const id = eventId(answerId, 'judgement', judgeId);
  const errorId = eventId(answerId, 'error', 'judging', judgeId);
  const events = await deps.store.events(session.id);
  if (events.some((e) => e.id === id || e.id === errorId)) return 'already-judged';
  const answer = events.find((e): e is EventOf<'answer'> => e.type === 'answer' && e.id === answerId);
  const question = events.find((e): e is EventOf<'question'> => e.type === 'question' && e.id === answer?.questionId);
  const header = events.find((e): e is EventOf<'session_started'> => e.type === 'session_started');
  if (!answer || !question || !header) return 'no-answer';
  const judge = deps.personas.get(judgeId);
  const failed = async (why: string, attempts: EventOf<'error'>['attempts'] = []) => {
    await deps.store.append({ v: TRANSCRIPT_FORMAT_VERSION, id: errorId, sessionId: session.id, at: iso(deps), type: 'error', message: `the judge could not score this answer: ${why}`, persona: { personaId: judgeId, name: judge?.name ?? judgeId }, during: 'judging', answerId, attempts });
    return 'judge-failed';
  };
  if (!judge) return failed('this persona is not configured on the workers');
  const entryOf = (personaId: string) => header.roster.find((r) => r.personaId === personaId) ?? { personaId, name: deps.personas.get(personaId)?.name ?? personaId };
  const auditor = header.interviewer?.kind === 'auditor' ? [identity(header.interviewer.persona, deps.personas.get(header.interviewer.persona.personaId))] : [];
  const judged = {
    purpose: header.protocol?.purpose ?? '',
    question: question.text,
    answer: answer.text,
    answering: identity(entryOf(answer.persona.personaId), deps.personas.get(answer.persona.personaId)),
    others: [...header.roster.filter((r) => r.personaId !== answer.persona.personaId).map((r) => identity(r, deps.personas.get(r.personaId))), ...auditor],
  };
  const answered = await askOrExplain(judge, { budget: deps.maxTokens, build: (tokens) => judgeContext(judge, judging, judged, tokens) }, lastTry, deps);
  if (answered.kind !== 'answered') return failed(answered.message, answered.attempts);
  await deps.store.append({
    v: TRANSCRIPT_FORMAT_VERSION,
    id,
    sessionId: session.id,
    at: new Date(answered.startedAt + answered.latencyMs).toISOString(),
    type: 'judgement',
    answerId,
    questionId: question.id,
    persona: answer.persona,
    judge: { personaId: judge.id, name: judge.name },
    blind: judging.blind,
    scores: parseScores(answered.completion.text, judging.dimensions),
    modelTurn: toModelTurn(answered),
  });
  return 'judged';
}

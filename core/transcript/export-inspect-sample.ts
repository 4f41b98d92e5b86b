// One Inspect sample per question: its messages (the system prompts the personas were given, the
// question, every answer naming its model), its output (the answers as choices), its scores, and
// the events the viewer's Transcript tab shows — an `init` span with `sample_init`, a `solvers` span
// with one `model` event per call (the auditor's question, each answer), a `scorers` span with each
// judge's call and `score` events — laid out as Inspect's task runner writes them
// (inspect_ai/_eval/task/run.py, util/_span.py). Pure.
import type { EventOf, TranscriptEvent } from './events.ts';
import type { SessionHeader } from './export-jsonl.ts';
import { addUsage, assistantContent, modelEvent, shortId, stopReason, systemOf, turnModel, withOffset, type ChatMessage, type EventBase, type ModelEvent, type ModelOutput, type ModelUsage } from './export-inspect-model.ts';
import { judgedAnswers, sampleScores, type Score } from './export-inspect-scores.ts';
import { uuidV5 } from './export-research-commons.ts';

type Question = EventOf<'question'>;
type Answer = EventOf<'answer'>;

export type InspectEvent =
  | ModelEvent
  | (EventBase & { event: 'span_begin'; id: string; parent_id?: string; type: string; name: string })
  | (EventBase & { event: 'span_end'; id: string })
  | (EventBase & { event: 'sample_init'; sample: { id: number | string; input: string; target: string; metadata: Record<string, unknown> }; state: Record<string, unknown> })
  | (EventBase & { event: 'score'; score: Score; target: string; intermediate: boolean; scorer: string })
  | (EventBase & { event: 'info'; source: string; data: unknown });

export interface InspectSample {
  id: number | string;
  epoch: number;
  input: string;
  target: string;
  messages: ChatMessage[];
  output: ModelOutput;
  scores?: Record<string, Score>;
  metadata: Record<string, unknown>;
  store: Record<string, unknown>;
  events: InspectEvent[];
  model_usage: Record<string, ModelUsage>;
  role_usage: Record<string, ModelUsage>;
  attachments: Record<string, string>;
  uuid: string;
  started_at?: string;
  completed_at?: string;
  total_time?: number;
  working_time?: number;
}

/** What every sample of a session shares: the header, and consent, coverage and who withdrew. */
export interface SessionContext {
  header: SessionHeader;
  events: readonly TranscriptEvent[];
  answers: readonly Answer[];
  /** Per question id: the session events that belong to its transcript (errors, notices, withdrawals). */
  asides: Map<string, TranscriptEvent[]>;
  consent: Record<string, unknown>[];
  coverage: EventOf<'coverage'> | undefined;
}

/** Seconds of model work before `t`: the union of the calls' intervals (parallel calls count once). */
function workingClock(intervals: [number, number][]): (t: number) => number {
  const merged: [number, number][] = [];
  for (const [s, e] of [...intervals].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  return (t) => merged.reduce((sum, [s, e]) => sum + Math.max(0, Math.min(e, t) - s), 0) / 1000;
}

const interval = (t: { startedAt: string; finishedAt: string }): [number, number] => [Date.parse(t.startedAt), Date.parse(t.finishedAt)];

export function toSample(ctx: SessionContext, q: Question): InspectSample & { unscoredKeys: string[] } {
  const sid = ctx.header.sessionId;
  const its = ctx.answers.filter((a) => a.questionId === q.id);
  const judged = judgedAnswers(ctx.events, its);
  const sampleUuid = uuidV5(`${sid}/sample/${q.id}`);
  const asides = ctx.asides.get(q.id) ?? [];
  const withdrawals = asides.filter((e): e is EventOf<'withdrawal'> => e.type === 'withdrawal');
  const withdrewIn = new Set(withdrawals.flatMap((w) => (w.answerId ? [w.answerId] : [])));
  const judging = (e: TranscriptEvent) => e.type === 'error' && e.during === 'judging';
  const failures = asides.flatMap((e) =>
    e.type === 'error' ? [{ at: e.at, message: e.message, ...(e.persona ? { persona: e.persona.name } : {}), ...(e.during ? { during: e.during } : {}), ...(e.answerId ? { answerId: e.answerId } : {}) }] : [],
  );

  // Messages: the system prompts as the personas were given them (one per distinct prompt), the question, the answers.
  // With no answer (or none with a system prompt), the disclosure the models were given opens it.
  const systems = new Map<string, { content: ChatMessage['content']; metadata: Record<string, unknown> }>();
  const disclosed = ctx.header.disclosure === undefined ? {} : { disclosureToModels: ctx.header.disclosureToModels ?? false };
  for (const a of its) {
    const s = systemOf(a.modelTurn.request);
    if (s === undefined) continue;
    const k = JSON.stringify(s);
    const entry = systems.get(k) ?? { content: s, metadata: { givenTo: [] as string[], ...disclosed } };
    (entry.metadata.givenTo as string[]).push(a.persona.name);
    systems.set(k, entry);
  }
  if (!systems.size && ctx.header.disclosure && ctx.header.disclosureToModels) systems.set('disclosure', { content: ctx.header.disclosure, metadata: { disclosure: true, ...disclosed } });
  const system: ChatMessage[] = [...systems.values()].map((s, i) => ({ id: uuidV5(`${sid}/${q.id}/system/${i}`), role: 'system', content: s.content, source: 'input', metadata: s.metadata }));
  const question: ChatMessage = {
    id: uuidV5(`${sid}/${q.id}`),
    role: 'user',
    content: q.text,
    source: 'input',
    metadata: {
      eventId: q.id,
      askedBy: q.askedBy.kind === 'system' ? 'chorus' : q.askedBy.name,
      source: q.source,
      ...(q.modelTurn ? { model: turnModel(q.modelTurn) } : {}),
    },
  };
  const answerMessages = its.map((a): ChatMessage & { role: 'assistant' } => ({
    id: uuidV5(`${sid}/${a.id}`),
    role: 'assistant',
    content: assistantContent(a.text, a.modelTurn.reasoning),
    source: 'generate',
    model: turnModel(a.modelTurn),
    metadata: {
      persona: a.persona.name,
      personaId: a.persona.personaId,
      model: turnModel(a.modelTurn),
      host: a.modelTurn.host.label,
      eventId: a.id,
      mode: a.mode,
      saw: a.saw,
      requestedModel: a.modelTurn.requestedModel,
      stopReason: a.modelTurn.stopReason,
      ...(withdrewIn.has(a.id) ? { withdrew: true } : {}),
    },
  }));

  // Usage, by model and by role (the persona that made the call), judges included as Inspect includes scorers.
  const usage: Record<string, ModelUsage> = {};
  const roleUsage: Record<string, ModelUsage> = {};
  const count = (role: string, t: Answer['modelTurn']) => {
    addUsage(usage, turnModel(t), t.usage);
    addUsage(roleUsage, role, t.usage);
  };
  const auditorRole = q.askedBy.kind === 'persona' ? q.askedBy.personaId : 'interviewer';
  if (q.modelTurn) count(auditorRole, q.modelTurn);
  for (const a of its) count(a.persona.personaId, a.modelTurn);
  for (const j of judged) count(j.judgement.judge.personaId, j.judgement.modelTurn);

  // Timing: from the question (or the auditor's call that wrote it) to the last answer.
  const solving = [...(q.modelTurn ? [interval(q.modelTurn)] : []), ...its.map((a) => interval(a.modelTurn))];
  const clock = workingClock([...solving, ...judged.map((j) => interval(j.judgement.modelTurn))]);
  const t0 = Math.min(Date.parse(q.at), ...solving.map((i) => i[0]));
  const tEnd = Math.max(t0, ...solving.map((i) => i[1]));
  const iso = (ms: number) => withOffset(new Date(ms).toISOString());
  const ws = (ms: number) => Math.max(0, clock(ms) - clock(t0));

  const metadata: Record<string, unknown> = {
    questionId: q.id,
    index: q.index,
    source: q.source,
    ...(q.followUpOf ? { followUpOf: q.followUpOf } : {}),
    mode: ctx.header.mode ?? null,
    answers: its.length,
    ...(failures.length ? { errors: failures } : {}),
    ...(ctx.consent.length ? { consent: ctx.consent } : {}),
    ...(ctx.coverage ? { coverage: { reached: ctx.coverage.topics.filter((t) => t.questionIds.includes(q.id)).map((t) => t.topic) } } : {}),
    ...(withdrawals.length ? { withdrawals: withdrawals.map((w) => ({ persona: w.persona.name, personaId: w.persona.personaId, at: w.at, ...(w.text ? { text: w.text } : {}) })) } : {}),
  };
  const scores = sampleScores(judged);
  const unscored = judged.flatMap((j) => j.unscored.filter((u) => !(u.key in scores)).map((u) => ({ key: u.key, persona: j.judgement.persona.name, judge: j.judgement.judge.name, rationale: u.rationale })));
  if (unscored.length) metadata.unscored = unscored;

  // Events, as Inspect's runner writes them: init, solvers, scorers spans.
  const events: InspectEvent[] = [];
  let n = 0;
  const uuid = () => shortId(`${sampleUuid}/event/${n++}`);
  const spanIds = new Set<string>();
  const begin = (name: string, type: string, at: number, parent?: string) => {
    const id = shortId(`${sampleUuid}/span/${spanIds.size}/${name}`);
    spanIds.add(id);
    events.push({ uuid: uuid(), span_id: id, timestamp: iso(at), working_start: ws(at), event: 'span_begin', id, ...(parent ? { parent_id: parent } : {}), type, name });
    return id;
  };
  const end = (id: string, at: number) => events.push({ uuid: uuid(), span_id: id, timestamp: iso(at), working_start: ws(at), event: 'span_end', id });
  const inputIds = (owner: string) => (i: number) => uuidV5(`${sid}/${owner}/input/${i}`);

  const init = begin('init', 'init', t0);
  events.push({
    uuid: uuid(),
    span_id: init,
    timestamp: iso(t0),
    working_start: 0,
    event: 'sample_init',
    sample: { id: q.index, input: q.text, target: '', metadata },
    state: { messages: [...system, question], tools: [], store: {}, output: { model: '', choices: [], completion: '' }, completed: false, metadata },
  });
  end(init, t0);

  const solvers = begin('solvers', 'solvers', t0);
  const solver = begin('chorus/interview', 'solver', t0, solvers);
  const calls: { at: number; seq: number; make: () => InspectEvent }[] = [];
  if (q.modelTurn) {
    const turn = q.modelTurn;
    calls.push({
      at: Date.parse(turn.startedAt),
      seq: q.seq ?? 0,
      make: () =>
        modelEvent({
          turn,
          text: q.text,
          messageId: uuidV5(`${sid}/${q.id}/auditor-output`),
          role: auditorRole,
          uuid: uuid(),
          spanId: solver,
          workingStart: ws(Date.parse(turn.startedAt)),
          idFor: inputIds(q.id),
          metadata: { eventId: q.id, askedBy: q.askedBy.kind === 'persona' ? q.askedBy.name : 'chorus', host: turn.host.label, output: 'the question as asked (parsed from the reply)', ...(turn.fallbacks.length ? { fallbacks: turn.fallbacks } : {}) },
        }),
    });
  }
  its.forEach((a, i) => {
    calls.push({
      at: Date.parse(a.modelTurn.startedAt),
      seq: a.seq ?? 0,
      make: () =>
        modelEvent({
          turn: a.modelTurn,
          text: a.text,
          messageId: answerMessages[i]!.id!,
          messageMetadata: answerMessages[i]!.metadata!,
          role: a.persona.personaId,
          uuid: uuid(),
          spanId: solver,
          workingStart: ws(Date.parse(a.modelTurn.startedAt)),
          idFor: inputIds(a.id),
          metadata: { eventId: a.id, persona: a.persona.name, host: a.modelTurn.host.label, requestedModel: a.modelTurn.requestedModel, ...(a.modelTurn.fallbacks.length ? { fallbacks: a.modelTurn.fallbacks } : {}), ...(a.modelTurn.earlierTries ? { earlierTries: a.modelTurn.earlierTries } : {}) },
        }),
    });
  });
  const info = (e: TranscriptEvent, span: string): InspectEvent | undefined => {
    const data =
      e.type === 'error'
        ? { error: e.message, ...(e.persona ? { [e.during === 'judging' ? 'judge' : 'persona']: e.persona.name } : {}), ...(e.answerId ? { answerId: e.answerId } : {}), ...(e.attempts ? { attempts: e.attempts } : {}) }
        : e.type === 'withdrawal'
          ? { withdrawal: e.persona.name, ...(e.text ? { text: e.text } : {}) }
          : e.type === 'notice'
            ? { notice: e.text, ...(e.persona ? { persona: e.persona.name } : {}) }
            : undefined;
    return data && { uuid: uuid(), span_id: span, timestamp: withOffset(e.at), working_start: ws(Date.parse(e.at)), event: 'info', source: 'chorus', data };
  };
  for (const e of asides.filter((x) => !judging(x))) calls.push({ at: Date.parse(e.at), seq: e.seq ?? 0, make: () => info(e, solver)! });
  for (const c of calls.sort((a, b) => a.at - b.at || a.seq - b.seq)) events.push(c.make());
  end(solver, tEnd);
  end(solvers, tEnd);

  const judgeFailures = asides.filter(judging);
  if (judged.length || judgeFailures.length) {
    const firstJudge = Math.min(...judged.map((j) => Date.parse(j.judgement.modelTurn.startedAt)), ...judgeFailures.map((e) => Date.parse(e.at)));
    const scorers = begin('scorers', 'scorers', firstJudge);
    let last = firstJudge;
    for (const e of judgeFailures) {
      events.push(info(e, scorers)!);
      last = Math.max(last, Date.parse(e.at));
    }
    for (const j of judged) {
      const turn = j.judgement.modelTurn;
      const [s, f] = interval(turn);
      last = Math.max(last, f);
      const span = begin(`${j.judgement.judge.name} judges ${j.judgement.persona.name}`, 'scorer', s, scorers);
      const summary = j.judgement.scores.map((x) => `${x.dimension}: ${x.value ?? 'no score'} (${x.min}–${x.max}) — ${x.rationale}`).join('\n');
      events.push(
        modelEvent({
          turn,
          text: summary,
          messageId: uuidV5(`${sid}/${j.judgement.id}/output`),
          role: j.judgement.judge.personaId,
          uuid: uuid(),
          spanId: span,
          workingStart: ws(s),
          idFor: inputIds(j.judgement.id),
          metadata: { eventId: j.judgement.id, judge: j.judgement.judge.name, answerId: j.answer.id, blind: j.judgement.blind, output: 'the recorded scores and rationales (the raw reply is not recorded)' },
        }),
      );
      for (const sc of j.scores) events.push({ uuid: uuid(), span_id: span, timestamp: iso(f), working_start: ws(f), event: 'score', score: sc.score, target: '', intermediate: false, scorer: sc.key });
      end(span, f);
    }
    end(scorers, last);
  }

  const answeredModels = new Set(its.map((a) => a.modelTurn.answeredModel));
  const outputUsage: Record<string, ModelUsage> = {};
  for (const a of its) addUsage(outputUsage, 'all', a.modelTurn.usage);
  const working = clock(tEnd) - clock(t0);
  return {
    id: q.index,
    epoch: 1,
    input: q.text,
    target: '',
    messages: [...system, question, ...answerMessages],
    output: {
      model: answeredModels.size === 1 ? [...answeredModels][0]! : '',
      choices: its.map((a, i) => ({ message: answerMessages[i]!, stop_reason: stopReason(a.modelTurn.stopReason) })),
      completion: its[0]?.text ?? '',
      ...(its.some((a) => a.modelTurn.usage) ? { usage: outputUsage.all! } : {}),
    },
    ...(Object.keys(scores).length ? { scores } : {}),
    metadata,
    store: {},
    events,
    model_usage: usage,
    role_usage: roleUsage,
    attachments: {},
    uuid: sampleUuid,
    started_at: iso(t0),
    completed_at: iso(tEnd),
    total_time: (tEnd - t0) / 1000,
    ...(its.length || q.modelTurn ? { working_time: working } : {}),
    unscoredKeys: unscored.map((u) => u.key),
  };
}

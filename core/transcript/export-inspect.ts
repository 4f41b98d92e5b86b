// Inspect eval log export (`.json`, version 2; field rules in shared/design/export-targets.md).
// One sample per question, follow-ups included (export-inspect-sample.ts): the personas' system
// prompts, the question, one assistant message per answer naming its model, the answers as output
// choices, judge scores, and the events the viewer's Transcript tab shows. Each persona (and the
// auditor, and each judge) is an Inspect model role, so the viewer names the persona beside the
// model on every call. Pure; run it on events from prepareForExport. Fields Inspect writes with
// defaults are written too (readers rely on them); fields that would be null are left out, as
// Inspect's writer does (exclude_none).
import type { EventOf, ModelTurn, TranscriptEvent } from './events.ts';
import { modelName, sessionHeader } from './export-jsonl.ts';
import { addUsage, shortId, turnModel, withOffset, type GenerateConfig, type ModelUsage } from './export-inspect-model.ts';
import { toSample, type InspectSample, type SessionContext } from './export-inspect-sample.ts';
import { evalScores, type EvalScore } from './export-inspect-scores.ts';

export type { ChatMessage, ModelUsage } from './export-inspect-model.ts';
export type { InspectEvent, InspectSample } from './export-inspect-sample.ts';
export { validateInspectLog } from './export-inspect-validate.ts';

export interface InspectLog {
  version: 2;
  status: 'started' | 'success' | 'cancelled' | 'error';
  eval: {
    eval_id: string;
    run_id: string;
    created: string;
    task: string;
    task_id: string;
    task_version: number;
    task_attribs: Record<string, unknown>;
    task_args: Record<string, unknown>;
    task_args_passed: Record<string, unknown>;
    dataset: { name: string; location: string; samples: number; sample_ids: (number | string)[]; shuffled: boolean };
    model: string;
    model_generate_config: GenerateConfig;
    model_args: Record<string, unknown>;
    model_roles?: Record<string, { model: string; config: GenerateConfig; args: Record<string, unknown> }>;
    config: { epochs: number };
    packages: Record<string, string>;
    metadata: Record<string, unknown>;
  };
  plan: { name: string; steps: { solver: string; params: Record<string, unknown>; params_passed: Record<string, unknown> }[]; config: Record<string, unknown> };
  results: { total_samples: number; completed_samples: number; scores: EvalScore[] };
  stats: {
    started_at: string;
    completed_at: string;
    model_usage: Record<string, ModelUsage>;
    role_usage: Record<string, ModelUsage>;
    connection_limit_history: unknown[];
  };
  error?: { message: string; traceback: string; traceback_ansi: string };
  invalidated: boolean;
  tags: string[];
  metadata: Record<string, unknown>;
  samples: InspectSample[];
}

/** The model name used when one session's answers came from several models (eval.model is one string). */
export const PANEL_MODEL = 'chorus/panel';

/** Every model call of the session, under the role that made it (a persona, the auditor, a judge). */
function modelCalls(events: readonly TranscriptEvent[]): { role: string; turn: ModelTurn }[] {
  return events.flatMap((e): { role: string; turn: ModelTurn }[] => {
    switch (e.type) {
      case 'answer':
        return [{ role: e.persona.personaId, turn: e.modelTurn }];
      case 'question':
        return e.modelTurn ? [{ role: e.askedBy.kind === 'persona' ? e.askedBy.personaId : 'interviewer', turn: e.modelTurn }] : [];
      case 'consent':
        return [{ role: e.persona.personaId, turn: e.modelTurn }, ...(e.classifiedBy.kind === 'judge' ? [{ role: e.classifiedBy.judge.personaId, turn: e.classifiedBy.modelTurn }] : [])];
      case 'judgement':
        return [{ role: e.judge.personaId, turn: e.modelTurn }];
      case 'coverage':
        return e.decidedBy.kind === 'judge' ? [{ role: e.decidedBy.judge.personaId, turn: e.decidedBy.modelTurn }] : [];
      default:
        return [];
    }
  });
}

/**
 * Session events shown in a question's transcript: an error in the question it names (or of the
 * answer a judge could not score), a withdrawal in the question of the answer it came in; otherwise
 * the last question asked before it. Failures to ask consent come before any question: none here.
 */
function asidesByQuestion(events: readonly TranscriptEvent[]): Map<string, TranscriptEvent[]> {
  const answerQuestion = new Map(events.flatMap((e) => (e.type === 'answer' ? [[e.id, e.questionId] as const] : [])));
  const ofAnswer = (id: string | undefined) => (id ? answerQuestion.get(id) : undefined);
  const out = new Map<string, TranscriptEvent[]>();
  let current: string | undefined;
  for (const e of events) {
    if (e.type === 'question') current = e.id;
    const q =
      e.type === 'error'
        ? e.during === 'consent'
          ? undefined
          : (e.questionId ?? ofAnswer(e.answerId) ?? current)
        : e.type === 'withdrawal'
          ? (ofAnswer(e.answerId) ?? current)
          : e.type === 'notice'
            ? current
            : undefined;
    if (q) out.set(q, [...(out.get(q) ?? []), e]);
  }
  return out;
}

export function toInspectLog(events: readonly TranscriptEvent[], opts: { evalId?: string } = {}): InspectLog {
  const h = sessionHeader(events);
  const answers = events.filter((e) => e.type === 'answer');
  const questions = events.filter((e) => e.type === 'question');
  const models = new Set(answers.map((a) => turnModel(a.modelTurn)));
  const firstHost = h.roster[0]?.hosts[0];
  const evalModel = models.size === 1 ? [...models][0]! : models.size === 0 && firstHost && h.roster.length === 1 ? modelName(firstHost.provider, firstHost.model) : PANEL_MODEL;

  const consentEvents = events.filter((e) => e.type === 'consent');
  const coverageEvents = events.filter((e) => e.type === 'coverage');
  const coverage = coverageEvents.at(-1);
  const withdrawals = events.filter((e) => e.type === 'withdrawal');
  const consentErrors = events.filter((e): e is EventOf<'error'> => e.type === 'error' && e.during === 'consent');
  const ctx: SessionContext = {
    header: h,
    events,
    answers,
    asides: asidesByQuestion(events),
    consent: consentEvents.map((c) => ({ persona: c.persona.name, personaId: c.persona.personaId, decision: c.decision, ...(c.conditions ? { conditions: c.conditions } : {}) })),
    coverage,
  };
  const built = questions.map((q) => toSample(ctx, q));
  const samples: InspectSample[] = built.map(({ unscoredKeys: _u, ...s }) => s);
  const questionIndex = new Map(questions.map((q) => [q.id, q.index]));

  const statsUsage: Record<string, ModelUsage> = {};
  const roleUsage: Record<string, ModelUsage> = {};
  const roles: NonNullable<InspectLog['eval']['model_roles']> = {};
  for (const r of h.roster) {
    const host = r.hosts[0];
    if (!host) continue;
    const config: GenerateConfig = { max_tokens: r.sampling.maxTokens, ...(r.sampling.temperature === undefined ? {} : { temperature: r.sampling.temperature }), ...(r.sampling.topP === undefined ? {} : { top_p: r.sampling.topP }) };
    roles[r.personaId] = { model: modelName(host.provider, host.model), config, args: {} };
  }
  for (const { role, turn } of modelCalls(events)) {
    addUsage(statsUsage, turnModel(turn), turn.usage);
    addUsage(roleUsage, role, turn.usage);
    roles[role] ??= { model: turnModel(turn), config: {}, args: {} };
  }

  const ended = events.find((e) => e.type === 'session_ended');
  const lastError = [...events].reverse().find((e) => e.type === 'error');
  const status: InspectLog['status'] = ended?.type === 'session_ended' ? (ended.reason === 'error' ? 'error' : 'success') : 'started';
  const task = h.protocol?.id ?? `chorus-${h.kind}`;
  const evalId = opts.evalId ?? shortId(`eval/${h.sessionId}`);
  const stepParams = { mode: h.mode ?? null, interviewer: h.interviewer?.kind ?? null, personas: h.roster.map((r) => r.personaId) };
  return {
    version: 2,
    status,
    eval: {
      eval_id: evalId,
      run_id: shortId(`run/${h.sessionId}`),
      created: withOffset(h.startedAt),
      task,
      task_id: shortId(`task/${h.sessionId}/${task}`),
      task_version: 0,
      task_attribs: {},
      task_args: {},
      task_args_passed: {},
      dataset: { name: task, location: `chorus:session/${h.sessionId}`, samples: samples.length, sample_ids: samples.map((s) => s.id), shuffled: false },
      model: evalModel,
      model_generate_config: {},
      model_args: {},
      ...(Object.keys(roles).length ? { model_roles: roles } : {}),
      config: { epochs: 1 },
      packages: { chorus: h.chorusVersion },
      metadata: {
        chorus: h,
        models: [...models],
        ...(consentEvents.length
          ? {
              consent: consentEvents.map((c) => ({
                persona: c.persona.name,
                personaId: c.persona.personaId,
                at: c.at,
                overview: c.overview,
                text: c.text,
                decision: c.decision,
                ...(c.conditions ? { conditions: c.conditions } : {}),
                classifiedBy: c.classifiedBy.kind === 'rule' ? { kind: 'rule', rule: c.classifiedBy.rule } : { kind: 'judge', judge: c.classifiedBy.judge.name, rationale: c.classifiedBy.rationale },
              })),
            }
          : {}),
        ...(coverage
          ? {
              coverage: {
                topics: coverage.topics.map((t) => ({ topic: t.topic, reached: t.reached, samples: t.questionIds.flatMap((id) => questionIndex.get(id) ?? []) })),
                decidedBy: coverage.decidedBy.kind === 'rule' ? { kind: 'rule', rule: coverage.decidedBy.rule } : { kind: 'judge', judge: coverage.decidedBy.judge.name },
              },
            }
          : {}),
        ...(consentErrors.length ? { consentErrors: consentErrors.map((e) => ({ at: e.at, message: e.message, ...(e.persona ? { persona: e.persona.name, personaId: e.persona.personaId } : {}) })) } : {}),
        ...(withdrawals.length ? { withdrawals: withdrawals.map((w) => ({ persona: w.persona.name, personaId: w.persona.personaId, at: w.at, ...(w.text ? { text: w.text } : {}) })) } : {}),
      },
    },
    plan: { name: 'plan', steps: [{ solver: 'chorus/interview', params: stepParams, params_passed: stepParams }], config: {} },
    results: { total_samples: samples.length, completed_samples: samples.filter((s) => s.output.choices.length > 0).length, scores: evalScores(built) },
    stats: {
      started_at: withOffset(h.startedAt),
      completed_at: ended ? withOffset(ended.at) : '',
      model_usage: statsUsage,
      role_usage: roleUsage,
      connection_limit_history: [],
    },
    ...(status === 'error'
      ? { error: { message: lastError?.type === 'error' ? lastError.message : 'session ended with an error', traceback: '', traceback_ansi: '' } }
      : {}),
    invalidated: false,
    tags: [],
    metadata: {},
    samples,
  };
}

/** `listing.json` for a directory of logs, as `inspect view bundle` writes it: file name → overview. */
/**
 * The name Inspect gives a JSON log: `{created}_{task}_{task_id}.json`, the time with dashes
 * (2026-11-30T09-15-00+00-00). Inspect lists a `.json` file as a log only when its name starts with
 * such a time (`is_log_file` in inspect_ai/log/_file.py), and reads the task and id from the rest,
 * split at underscores; so underscores in the task become dashes.
 */
export function inspectLogFileName(log: InspectLog): string {
  const created = log.eval.created.replace(/\.\d+/, '').replace(/:/g, '-');
  return `${created}_${log.eval.task.replace(/[_/\\\s]+/g, '-')}_${log.eval.task_id}.json`;
}

export function inspectListing(logs: readonly { file: string; log: InspectLog }[]): Record<string, Record<string, unknown>> {
  const listing: Record<string, Record<string, unknown>> = {};
  for (const { file, log } of logs) {
    const first = log.results.scores[0];
    const primary = first?.metrics ? Object.values(first.metrics)[0] : undefined;
    listing[file] = {
      eval_id: log.eval.eval_id,
      run_id: log.eval.run_id,
      task: log.eval.task,
      task_id: log.eval.task_id,
      task_version: log.eval.task_version,
      version: log.version,
      status: log.status,
      ...(log.error ? { error: log.error } : {}),
      model: log.eval.model,
      started_at: log.stats.started_at,
      completed_at: log.stats.completed_at,
      ...(primary !== undefined ? { primary_metric: primary } : {}),
    };
  }
  return listing;
}

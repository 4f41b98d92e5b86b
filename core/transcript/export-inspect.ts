// Inspect eval log export (`.json`, version 2; field rules in shared/design/export-targets.md).
// One sample per question, follow-ups included: the question as a user message, then one
// assistant message per persona answer, each naming its model. Pure; run it on events from
// prepareForExport. Fields Inspect writes with defaults are written too (readers rely on them);
// fields that would be null are left out, as Inspect's writer does (exclude_none).
import { createHash } from 'node:crypto';
import type { Usage } from '../hosts/clients.ts';
import type { TranscriptEvent } from './events.ts';
import { modelName, sessionHeader } from './export-jsonl.ts';
import { UUID_RE, uuidV5 } from './export-research-commons.ts';

export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_cache_read?: number;
  input_tokens_cache_write?: number;
}

export interface ChatMessage {
  id: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  source?: 'input' | 'generate';
  model?: string;
  metadata?: Record<string, unknown>;
}

export interface InspectSample {
  id: number | string;
  epoch: number;
  input: string;
  target: string;
  messages: ChatMessage[];
  output: { model: string; choices: unknown[] };
  metadata: Record<string, unknown>;
  store: Record<string, unknown>;
  events: unknown[];
  model_usage: Record<string, ModelUsage>;
  attachments: Record<string, string>;
  uuid: string;
  total_time?: number;
  working_time?: number;
}

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
    dataset: { name: string; location: string; samples: number; sample_ids: (number | string)[]; shuffled: boolean };
    model: string;
    model_args: Record<string, unknown>;
    config: { epochs: number };
    packages: Record<string, string>;
    metadata: Record<string, unknown>;
  };
  plan: { name: string; steps: { solver: string; params: Record<string, unknown> }[]; config: Record<string, unknown> };
  results: { total_samples: number; completed_samples: number; scores: unknown[] };
  stats: { started_at: string; completed_at: string; model_usage: Record<string, ModelUsage> };
  error?: { message: string; traceback: string; traceback_ansi: string };
  samples: InspectSample[];
}

/** The model name used when one session's answers came from several models (eval.model is one string). */
export const PANEL_MODEL = 'chorus/panel';

const BASE57 = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A 22-character base57 id (the look of Inspect's shortuuid ids), derived from `name`. */
function shortId(name: string): string {
  let n = BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 32)}`);
  let out = '';
  for (let i = 0; i < 22; i++) {
    out += BASE57[Number(n % 57n)];
    n /= 57n;
  }
  return out;
}

/** Inspect writes datetimes with an explicit offset (`+00:00`), not `Z`. */
function withOffset(iso: string): string {
  return iso.endsWith('Z') ? `${iso.slice(0, -1)}+00:00` : iso;
}

function addUsage(into: Record<string, ModelUsage>, model: string, u: Usage | null) {
  const t = (into[model] ??= { input_tokens: 0, output_tokens: 0, total_tokens: 0 });
  if (!u) return;
  t.input_tokens += u.inputTokens;
  t.output_tokens += u.outputTokens;
  t.total_tokens += u.inputTokens + u.outputTokens;
  if (u.cacheReadTokens !== undefined) t.input_tokens_cache_read = (t.input_tokens_cache_read ?? 0) + u.cacheReadTokens;
  if (u.cacheWriteTokens !== undefined) t.input_tokens_cache_write = (t.input_tokens_cache_write ?? 0) + u.cacheWriteTokens;
}

export function toInspectLog(events: readonly TranscriptEvent[], opts: { evalId?: string } = {}): InspectLog {
  const h = sessionHeader(events);
  const answers = events.filter((e) => e.type === 'answer');
  const questions = events.filter((e) => e.type === 'question');
  const models = new Set(answers.map((a) => modelName(a.modelTurn.host.provider, a.modelTurn.answeredModel)));
  const firstHost = h.roster[0]?.hosts[0];
  const evalModel = models.size === 1 ? [...models][0]! : models.size === 0 && firstHost && h.roster.length === 1 ? modelName(firstHost.provider, firstHost.model) : PANEL_MODEL;

  const statsUsage: Record<string, ModelUsage> = {};
  const samples: InspectSample[] = questions.map((q) => {
    const its = answers.filter((a) => a.questionId === q.id);
    const failures = events.flatMap((e) => (e.type === 'error' && e.questionId === q.id ? [{ at: e.at, message: e.message, ...(e.persona ? { persona: e.persona.name } : {}) }] : []));
    const usage: Record<string, ModelUsage> = {};
    if (q.modelTurn) {
      addUsage(usage, modelName(q.modelTurn.host.provider, q.modelTurn.answeredModel), q.modelTurn.usage);
      addUsage(statsUsage, modelName(q.modelTurn.host.provider, q.modelTurn.answeredModel), q.modelTurn.usage);
    }
    const messages: ChatMessage[] = [
      {
        id: uuidV5(`${h.sessionId}/${q.id}`),
        role: 'user',
        content: q.text,
        source: 'input',
        metadata: {
          eventId: q.id,
          askedBy: q.askedBy.kind === 'system' ? 'chorus' : q.askedBy.name,
          source: q.source,
          ...(q.modelTurn ? { model: modelName(q.modelTurn.host.provider, q.modelTurn.answeredModel) } : {}),
        },
      },
      ...its.map((a): ChatMessage => {
        const model = modelName(a.modelTurn.host.provider, a.modelTurn.answeredModel);
        addUsage(usage, model, a.modelTurn.usage);
        addUsage(statsUsage, model, a.modelTurn.usage);
        return {
          id: uuidV5(`${h.sessionId}/${a.id}`),
          role: 'assistant',
          content: a.text,
          source: 'generate',
          model,
          metadata: {
            persona: a.persona.name,
            personaId: a.persona.personaId,
            host: a.modelTurn.host.label,
            eventId: a.id,
            mode: a.mode,
            saw: a.saw,
            requestedModel: a.modelTurn.requestedModel,
            stopReason: a.modelTurn.stopReason,
            request: a.modelTurn.request,
          },
        };
      }),
    ];
    const times = its.map((a) => Date.parse(a.modelTurn.finishedAt)).filter((t) => !Number.isNaN(t));
    const total = times.length ? (Math.max(...times) - Date.parse(q.at)) / 1000 : undefined;
    const working = its.reduce((s, a) => s + a.modelTurn.latencyMs, 0) / 1000;
    return {
      id: q.index,
      epoch: 1,
      input: q.text,
      target: '',
      messages,
      output: { model: '', choices: [] },
      metadata: {
        questionId: q.id,
        index: q.index,
        source: q.source,
        ...(q.followUpOf ? { followUpOf: q.followUpOf } : {}),
        mode: h.mode ?? null,
        answers: its.length,
        ...(failures.length ? { errors: failures } : {}),
      },
      store: {},
      events: [],
      model_usage: usage,
      attachments: {},
      uuid: uuidV5(`${h.sessionId}/sample/${q.id}`),
      ...(total !== undefined && total >= 0 ? { total_time: total } : {}),
      ...(its.length ? { working_time: working } : {}),
    };
  });

  const ended = events.find((e) => e.type === 'session_ended');
  const lastError = [...events].reverse().find((e) => e.type === 'error');
  const status: InspectLog['status'] = ended?.type === 'session_ended' ? (ended.reason === 'error' ? 'error' : 'success') : 'started';
  const task = h.protocol?.id ?? `chorus-${h.kind}`;
  const evalId = opts.evalId ?? shortId(`eval/${h.sessionId}`);
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
      dataset: { name: task, location: `chorus:session/${h.sessionId}`, samples: samples.length, sample_ids: samples.map((s) => s.id), shuffled: false },
      model: evalModel,
      model_args: {},
      config: { epochs: 1 },
      packages: { chorus: h.chorusVersion },
      metadata: { chorus: h, models: [...models] },
    },
    plan: {
      name: 'plan',
      steps: [{ solver: 'chorus/interview', params: { mode: h.mode ?? null, interviewer: h.interviewer?.kind ?? null, personas: h.roster.map((r) => r.personaId) } }],
      config: {},
    },
    results: { total_samples: samples.length, completed_samples: samples.filter((s) => s.messages.length > 1).length, scores: [] },
    stats: {
      started_at: withOffset(h.startedAt),
      completed_at: ended ? withOffset(ended.at) : '',
      model_usage: statsUsage,
    },
    ...(status === 'error'
      ? { error: { message: lastError?.type === 'error' ? lastError.message : 'session ended with an error', traceback: '', traceback_ansi: '' } }
      : {}),
    samples,
  };
}

/** `listing.json` for a directory of logs, as `inspect view bundle` writes it: file name → overview. */
export function inspectListing(logs: readonly { file: string; log: InspectLog }[]): Record<string, Record<string, unknown>> {
  const listing: Record<string, Record<string, unknown>> = {};
  for (const { file, log } of logs) {
    const first = log.results.scores[0] as { metrics?: Record<string, unknown> } | undefined;
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;
const STATUSES = new Set(['started', 'success', 'cancelled', 'error']);
const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

/** The rules of export-targets.md an Inspect log must meet; an empty list means none broken. */
export function validateInspectLog(log: unknown): string[] {
  const p: string[] = [];
  if (!isObject(log)) return ['log is not an object'];
  if (log.version !== 2) p.push('version: must be 2');
  if (!STATUSES.has(log.status as string)) p.push(`status: ${JSON.stringify(log.status)} is not started, success, cancelled or error`);
  for (const k of ['eval', 'plan', 'results', 'stats'] as const) if (!isObject(log[k])) p.push(`${k}: required object`);
  if (!Array.isArray(log.samples)) p.push('samples: required array');
  if (log.status === 'error' && !isObject(log.error)) p.push('error: required when status is error');

  const ev = log.eval;
  if (isObject(ev)) {
    if (typeof ev.created !== 'string' || !ISO_WITH_OFFSET.test(ev.created)) p.push('eval.created: ISO datetime with offset required');
    if (typeof ev.task !== 'string' || !ev.task) p.push('eval.task: required string');
    if (typeof ev.model !== 'string' || !/^[^/\s]+\/\S+$/.test(ev.model)) p.push(`eval.model: ${JSON.stringify(ev.model)} is not provider/model-id`);
    if (!isObject(ev.config)) p.push('eval.config: required object');
    else if (ev.config.epochs !== undefined && !(Number.isInteger(ev.config.epochs) && (ev.config.epochs as number) >= 1)) p.push('eval.config.epochs: positive integer');
    const ds = ev.dataset;
    if (!isObject(ds)) p.push('eval.dataset: required object');
    else {
      for (const k of ['name', 'location'] as const) if (typeof ds[k] !== 'string') p.push(`eval.dataset.${k}: required string`);
      if (!Number.isInteger(ds.samples)) p.push('eval.dataset.samples: required integer');
      if (!Array.isArray(ds.sample_ids)) p.push('eval.dataset.sample_ids: required array');
      if (typeof ds.shuffled !== 'boolean') p.push('eval.dataset.shuffled: required boolean');
      if (Array.isArray(log.samples) && Number.isInteger(ds.samples) && ds.samples !== log.samples.length) p.push('eval.dataset.samples: does not match the number of samples');
    }
    for (const k of ['eval_id', 'run_id', 'task_id'] as const) if (typeof ev[k] !== 'string' || !ev[k]) p.push(`eval.${k}: written with a default; required`);
    if (typeof ev.task_version !== 'number' && typeof ev.task_version !== 'string') p.push('eval.task_version: written with a default (0); required');
    for (const k of ['task_attribs', 'task_args', 'model_args', 'packages'] as const) if (!isObject(ev[k])) p.push(`eval.${k}: written with a default ({}); required`);
    if (ev.metadata !== undefined && !isObject(ev.metadata)) p.push('eval.metadata: must be an object');
  }
  if (isObject(log.plan)) {
    if (typeof log.plan.name !== 'string') p.push('plan.name: written with a default ("plan"); required');
    if (!Array.isArray(log.plan.steps)) p.push('plan.steps: written with a default ([]); required');
    if (!isObject(log.plan.config)) p.push('plan.config: written with a default ({}); required');
  }
  if (isObject(log.results)) {
    for (const k of ['total_samples', 'completed_samples'] as const) if (!Number.isInteger(log.results[k])) p.push(`results.${k}: written with a default (0); required`);
    if (!Array.isArray(log.results.scores)) p.push('results.scores: written with a default ([]); required');
  }
  if (isObject(log.stats)) {
    for (const k of ['started_at', 'completed_at'] as const) {
      const v = log.stats[k];
      if (typeof v !== 'string' || (v !== '' && !ISO_WITH_OFFSET.test(v))) p.push(`stats.${k}: ISO datetime with offset, or ''`);
    }
    if (!isObject(log.stats.model_usage)) p.push('stats.model_usage: written with a default ({}); required');
  }

  if (Array.isArray(log.samples)) {
    const keys = new Set<string>();
    log.samples.forEach((s: unknown, i: number) => {
      const at = `samples[${i}]`;
      if (!isObject(s)) return void p.push(`${at}: not an object`);
      if (!(typeof s.id === 'string' || Number.isInteger(s.id))) p.push(`${at}.id: int or string required`);
      if (!(Number.isInteger(s.epoch) && (s.epoch as number) >= 1)) p.push(`${at}.epoch: integer from 1 required`);
      const key = `${String(s.id)}#${String(s.epoch)}`;
      if (keys.has(key)) p.push(`${at}: duplicate (id, epoch)`);
      keys.add(key);
      if (!(typeof s.input === 'string' || Array.isArray(s.input))) p.push(`${at}.input: string or list of messages required`);
      if (!(typeof s.target === 'string' || Array.isArray(s.target))) p.push(`${at}.target: string or list required`);
      for (const k of ['messages', 'events'] as const) if (!Array.isArray(s[k])) p.push(`${at}.${k}: written with a default ([]); required`);
      for (const k of ['output', 'metadata', 'store', 'model_usage'] as const) if (!isObject(s[k])) p.push(`${at}.${k}: written with a default ({}); required`);
      if (s.uuid !== undefined && typeof s.uuid !== 'string') p.push(`${at}.uuid: must be a string`);
      const usageModels = isObject(s.model_usage) ? new Set(Object.keys(s.model_usage)) : new Set<string>();
      const ids = new Set<string>();
      if (Array.isArray(s.messages))
        s.messages.forEach((m: unknown, j: number) => {
          const mat = `${at}.messages[${j}]`;
          if (!isObject(m)) return void p.push(`${mat}: not an object`);
          if (!ROLES.has(m.role as string)) p.push(`${mat}.role: ${JSON.stringify(m.role)} is not system, user, assistant or tool`);
          if (!(typeof m.content === 'string' || Array.isArray(m.content))) p.push(`${mat}.content: string or list of content parts required`);
          if (m.id !== undefined) {
            if (typeof m.id !== 'string' || !UUID_RE.test(m.id)) p.push(`${mat}.id: chorus writes UUID message ids`);
            else if (ids.has(m.id)) p.push(`${mat}.id: duplicate`);
            else ids.add(m.id);
          }
          if (m.model !== undefined && m.role !== 'assistant') p.push(`${mat}.model: only an assistant message carries a model`);
          if (m.role === 'assistant' && m.source === 'generate' && typeof m.model !== 'string') p.push(`${mat}.model: a generated assistant message names its model`);
          if (typeof m.model === 'string' && !/^[^/\s]+\/\S+$/.test(m.model)) p.push(`${mat}.model: ${JSON.stringify(m.model)} is not provider/model-id (as eval.model)`);
          if (typeof m.model === 'string' && usageModels.size && !usageModels.has(m.model)) p.push(`${mat}.model: ${m.model} is missing from the sample's model_usage`);
          if (m.metadata !== undefined && !isObject(m.metadata)) p.push(`${mat}.metadata: must be an object`);
        });
    });
  }
  return p;
}

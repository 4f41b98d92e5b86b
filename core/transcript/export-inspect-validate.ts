// The rules an Inspect eval log must meet (shared/design/export-targets.md, and Inspect's own log
// models: log/_log.py, event/*.py, model/_chat_message.py, model/_model_output.py,
// scorer/_metric.py): the log and eval spec, then each sample's messages, output, scores and the
// events its Transcript tab shows. An empty list means none is broken. Pure.
import { UUID_RE } from './export-research-commons.ts';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;
const MODEL_NAME = /^[^/\s]+\/\S+$/;
const STATUSES = new Set(['started', 'success', 'cancelled', 'error']);
const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const STOP_REASONS = new Set(['stop', 'max_tokens', 'model_length', 'tool_calls', 'content_filter', 'unknown']);
/** Inspect's event kinds (the discriminator of event/_event.py). */
const EVENT_KINDS = new Set([
  ...['sample_init', 'sample_limit', 'sandbox', 'state', 'store', 'model', 'tool', 'anchor', 'approval', 'branch', 'checkpoint', 'compaction'],
  ...['input', 'interrupt', 'score', 'score_edit', 'error', 'logger', 'info', 'span_begin', 'span_end', 'step', 'subtask'],
]);
const isCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

/** Inspect's ModelUsage: counts, and a total that is every token (cached ones included). */
function usageProblems(u: unknown, at: string): string[] {
  if (!isObject(u)) return [`${at}: usage must be an object`];
  const p: string[] = [];
  for (const k of ['input_tokens', 'output_tokens', 'total_tokens'] as const) if (!isCount(u[k])) p.push(`${at}.${k}: non-negative integer required`);
  for (const k of ['input_tokens_cache_read', 'input_tokens_cache_write'] as const) if (u[k] !== undefined && !isCount(u[k])) p.push(`${at}.${k}: non-negative integer`);
  const sum = [u.input_tokens, u.output_tokens, u.input_tokens_cache_read ?? 0, u.input_tokens_cache_write ?? 0].reduce<number>((s, x) => s + (typeof x === 'number' ? x : 0), 0);
  if (isCount(u.total_tokens) && u.total_tokens !== sum) p.push(`${at}.total_tokens: ${String(u.total_tokens)} is not input + output + cache read + cache write (${sum}); input_tokens excludes cached tokens`);
  return p;
}

function usageMapProblems(m: unknown, at: string, keyIsModel: boolean): string[] {
  if (!isObject(m)) return [`${at}: written with a default ({}); required`];
  return Object.entries(m).flatMap(([k, u]) => [...(keyIsModel && !MODEL_NAME.test(k) ? [`${at}: key ${JSON.stringify(k)} is not provider/model-id`] : []), ...usageProblems(u, `${at}[${JSON.stringify(k)}]`)]);
}

function messageProblems(m: unknown, at: string): string[] {
  if (!isObject(m)) return [`${at}: not an object`];
  const p: string[] = [];
  if (!ROLES.has(m.role as string)) p.push(`${at}.role: ${JSON.stringify(m.role)} is not system, user, assistant or tool`);
  if (!(typeof m.content === 'string' || Array.isArray(m.content))) p.push(`${at}.content: string or list of content parts required`);
  else if (Array.isArray(m.content)) m.content.forEach((c, i) => !(isObject(c) && typeof c.type === 'string') && p.push(`${at}.content[${i}]: a content part has a type`));
  if (m.model !== undefined && m.role !== 'assistant') p.push(`${at}.model: only an assistant message carries a model`);
  if (m.role === 'assistant' && m.source === 'generate' && typeof m.model !== 'string') p.push(`${at}.model: a generated assistant message names its model`);
  if (typeof m.model === 'string' && !MODEL_NAME.test(m.model)) p.push(`${at}.model: ${JSON.stringify(m.model)} is not provider/model-id (as eval.model)`);
  if (m.metadata !== undefined && !isObject(m.metadata)) p.push(`${at}.metadata: must be an object`);
  return p;
}

/** Inspect's ModelOutput: model, choices (each an assistant message and a stop reason), completion. */
function outputProblems(o: unknown, at: string): string[] {
  if (!isObject(o)) return [`${at}: written with a default ({}); required`];
  const p: string[] = [];
  if (typeof o.model !== 'string') p.push(`${at}.model: written with a default (""); required`);
  if (typeof o.completion !== 'string') p.push(`${at}.completion: written with a default (""); required`);
  if (!Array.isArray(o.choices)) p.push(`${at}.choices: written with a default ([]); required`);
  else
    o.choices.forEach((c, i) => {
      if (!isObject(c)) return void p.push(`${at}.choices[${i}]: not an object`);
      p.push(...messageProblems(c.message, `${at}.choices[${i}].message`));
      if (isObject(c.message) && c.message.role !== 'assistant') p.push(`${at}.choices[${i}].message.role: a choice is an assistant message`);
      if (!STOP_REASONS.has(c.stop_reason as string)) p.push(`${at}.choices[${i}].stop_reason: ${JSON.stringify(c.stop_reason)} is not one of Inspect's stop reasons`);
    });
  if (o.usage !== undefined) p.push(...usageProblems(o.usage, `${at}.usage`));
  if (o.time !== undefined && !(typeof o.time === 'number' && o.time >= 0)) p.push(`${at}.time: seconds, non-negative`);
  return p;
}

/** Inspect's Score: a value (never null: an unscored value is NaN in Inspect, left out here), and its edit history. */
function scoreProblems(s: unknown, at: string): string[] {
  if (!isObject(s)) return [`${at}: not an object`];
  const p: string[] = [];
  const v = s.value;
  const scalar = (x: unknown) => typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
  if (!(scalar(v) || (Array.isArray(v) && v.every(scalar)) || (isObject(v) && Object.values(v).every((x) => x === null || scalar(x))))) p.push(`${at}.value: a number, string, boolean, list or mapping of them required`);
  for (const k of ['answer', 'explanation'] as const) if (s[k] !== undefined && typeof s[k] !== 'string') p.push(`${at}.${k}: must be a string`);
  if (s.metadata !== undefined && !isObject(s.metadata)) p.push(`${at}.metadata: must be an object`);
  if (!Array.isArray(s.history)) p.push(`${at}.history: written with a default ([]); required`);
  return p;
}

function evalScoreProblems(e: unknown, at: string): string[] {
  if (!isObject(e)) return [`${at}: not an object`];
  const p: string[] = [];
  for (const k of ['name', 'scorer'] as const) if (typeof e[k] !== 'string' || !e[k]) p.push(`${at}.${k}: required string`);
  if (!isObject(e.params)) p.push(`${at}.params: written with a default ({}); required`);
  if (!isObject(e.metrics)) p.push(`${at}.metrics: written with a default ({}); required`);
  else
    for (const [k, m] of Object.entries(e.metrics)) {
      if (!isObject(m) || typeof m.name !== 'string' || !(typeof m.value === 'number' && Number.isFinite(m.value)) || !isObject(m.params)) p.push(`${at}.metrics.${k}: an EvalMetric {name, value (finite number), params} required`);
    }
  for (const k of ['scored_samples', 'unscored_samples'] as const) if (e[k] !== undefined && !isCount(e[k])) p.push(`${at}.${k}: non-negative integer`);
  return p;
}

/** The events of one sample, as the viewer walks them: kinds, times, spans, and each kind's fields. */
function eventProblems(events: unknown[], at: string): string[] {
  const p: string[] = [];
  const begun = new Set<string>();
  const ended = new Set<string>();
  events.forEach((e, i) => {
    const eat = `${at}.events[${i}]`;
    if (!isObject(e)) return void p.push(`${eat}: not an object`);
    if (!EVENT_KINDS.has(e.event as string)) return void p.push(`${eat}.event: ${JSON.stringify(e.event)} is not an Inspect event kind`);
    if (typeof e.timestamp !== 'string' || !ISO_WITH_OFFSET.test(e.timestamp)) p.push(`${eat}.timestamp: ISO datetime with offset required`);
    if (!(typeof e.working_start === 'number' && Number.isFinite(e.working_start) && e.working_start >= 0)) p.push(`${eat}.working_start: seconds (non-negative number) required`);
    if (e.uuid !== undefined && typeof e.uuid !== 'string') p.push(`${eat}.uuid: must be a string`);
    if (e.metadata !== undefined && !isObject(e.metadata)) p.push(`${eat}.metadata: must be an object`);
    if (e.event === 'span_begin') {
      if (typeof e.id !== 'string' || typeof e.name !== 'string') p.push(`${eat}: a span_begin has an id and a name`);
      else if (begun.has(e.id)) p.push(`${eat}.id: span ${e.id} begins twice`);
      else begun.add(e.id);
      if (e.parent_id !== undefined && !(typeof e.parent_id === 'string' && begun.has(e.parent_id) && !ended.has(e.parent_id))) p.push(`${eat}.parent_id: names no open span`);
    } else if (e.event === 'span_end') {
      if (typeof e.id !== 'string' || !begun.has(e.id)) p.push(`${eat}.id: ends a span that never began`);
      else if (ended.has(e.id)) p.push(`${eat}.id: span ${e.id} ends twice`);
      else ended.add(e.id);
    }
    if (e.span_id !== undefined && !(typeof e.span_id === 'string' && begun.has(e.span_id))) p.push(`${eat}.span_id: names no span begun before it`);
    if (e.event === 'model') {
      if (typeof e.model !== 'string' || !MODEL_NAME.test(e.model)) p.push(`${eat}.model: provider/model-id required`);
      if (e.role !== undefined && typeof e.role !== 'string') p.push(`${eat}.role: must be a string`);
      if (!Array.isArray(e.input)) p.push(`${eat}.input: the messages the model was given (list) required`);
      else e.input.forEach((m, j) => p.push(...messageProblems(m, `${eat}.input[${j}]`)));
      if (!Array.isArray(e.tools)) p.push(`${eat}.tools: required list (empty without tools)`);
      if (e.tool_choice === undefined) p.push(`${eat}.tool_choice: required`);
      if (!isObject(e.config)) p.push(`${eat}.config: GenerateConfig object required`);
      p.push(...outputProblems(e.output, `${eat}.output`));
      if (e.completed !== undefined && (typeof e.completed !== 'string' || !ISO_WITH_OFFSET.test(e.completed) || (typeof e.timestamp === 'string' && Date.parse(e.completed) < Date.parse(e.timestamp)))) p.push(`${eat}.completed: ISO datetime with offset, not before timestamp`);
      if (e.working_time !== undefined && !(typeof e.working_time === 'number' && e.working_time >= 0)) p.push(`${eat}.working_time: seconds, non-negative`);
      if (e.call !== undefined && !(isObject(e.call) && isObject(e.call.request))) p.push(`${eat}.call.request: the raw request (object) required`);
    } else if (e.event === 'sample_init') {
      if (!isObject(e.sample) || !(typeof e.sample.input === 'string' || Array.isArray(e.sample.input)) || e.sample.target === undefined) p.push(`${eat}.sample: a Sample with input and target required`);
      if (!isObject(e.state) || !Array.isArray(e.state.messages)) p.push(`${eat}.state.messages: the viewer shows the sample's opening messages from here; required`);
    } else if (e.event === 'score') {
      p.push(...scoreProblems(e.score, `${eat}.score`));
      if (typeof e.intermediate !== 'boolean') p.push(`${eat}.intermediate: written with a default (false); required`);
    } else if (e.event === 'info' && e.data === undefined) p.push(`${eat}.data: required`);
  });
  for (const id of begun) if (!ended.has(id)) p.push(`${at}.events: span ${id} never ends`);
  return p;
}

function sampleProblems(s: Obj, at: string, resultNames: Set<string> | undefined): string[] {
  const p: string[] = [];
  if (!(typeof s.id === 'string' || Number.isInteger(s.id))) p.push(`${at}.id: int or string required`);
  if (!(Number.isInteger(s.epoch) && (s.epoch as number) >= 1)) p.push(`${at}.epoch: integer from 1 required`);
  if (!(typeof s.input === 'string' || Array.isArray(s.input))) p.push(`${at}.input: string or list of messages required`);
  if (!(typeof s.target === 'string' || Array.isArray(s.target))) p.push(`${at}.target: string or list required`);
  for (const k of ['messages', 'events'] as const) if (!Array.isArray(s[k])) p.push(`${at}.${k}: written with a default ([]); required`);
  for (const k of ['metadata', 'store', 'attachments'] as const) if (!isObject(s[k])) p.push(`${at}.${k}: written with a default ({}); required`);
  p.push(...usageMapProblems(s.model_usage, `${at}.model_usage`, true), ...usageMapProblems(s.role_usage, `${at}.role_usage`, false));
  if (s.uuid !== undefined && typeof s.uuid !== 'string') p.push(`${at}.uuid: must be a string`);
  for (const k of ['started_at', 'completed_at'] as const) if (s[k] !== undefined && (typeof s[k] !== 'string' || !ISO_WITH_OFFSET.test(s[k]))) p.push(`${at}.${k}: ISO datetime with offset`);
  const messages = Array.isArray(s.messages) ? s.messages : [];
  const events = Array.isArray(s.events) ? s.events.filter(isObject) : [];

  const usageModels = isObject(s.model_usage) ? new Set(Object.keys(s.model_usage)) : new Set<string>();
  const ids = new Set<string>();
  let pastSystem = false;
  messages.forEach((m: unknown, j: number) => {
    const mat = `${at}.messages[${j}]`;
    p.push(...messageProblems(m, mat));
    if (!isObject(m)) return;
    if (m.role === 'system' && pastSystem) p.push(`${mat}: a system message comes before the conversation`);
    if (m.role !== 'system') pastSystem = true;
    if (m.id !== undefined) {
      if (typeof m.id !== 'string' || !UUID_RE.test(m.id)) p.push(`${mat}.id: chorus writes UUID message ids`);
      else if (ids.has(m.id)) p.push(`${mat}.id: duplicate`);
      else ids.add(m.id);
    }
    if (typeof m.model === 'string' && usageModels.size && !usageModels.has(m.model)) p.push(`${mat}.model: ${m.model} is missing from the sample's model_usage`);
  });
  // The calls that wrote the sample's answers (not the auditor's or a judge's): was a system prompt given?
  const generated = messages.filter((m): m is Obj => isObject(m) && m.role === 'assistant' && m.source === 'generate');
  const answerIds = new Set(generated.map((m) => m.id));
  const writes = (e: Obj) => isObject(e.output) && Array.isArray(e.output.choices) && e.output.choices.some((c) => isObject(c) && isObject(c.message) && answerIds.has(c.message.id));
  const givenSystem = events.some((e) => e.event === 'model' && writes(e) && Array.isArray(e.input) && isObject(e.input[0]) && e.input[0].role === 'system');
  if (givenSystem && !(isObject(messages[0]) && messages[0].role === 'system')) p.push(`${at}.messages[0]: the personas were given a system prompt; the sample's messages start with it`);

  p.push(...outputProblems(s.output, `${at}.output`));
  const choices = isObject(s.output) && Array.isArray(s.output.choices) ? s.output.choices : [];
  if (generated.length && !choices.length) p.push(`${at}.output.choices: the sample has answers; its output names them`);
  choices.forEach((c, i) => isObject(c) && isObject(c.message) && typeof c.message.id === 'string' && !ids.has(c.message.id) && p.push(`${at}.output.choices[${i}].message.id: names no message of the sample`));

  if (Array.isArray(s.events)) {
    p.push(...eventProblems(s.events, at));
    if (messages.length && !events.some((e) => e.event === 'sample_init')) p.push(`${at}.events: no sample_init event (the viewer's Transcript tab starts there)`);
    const carried = new Set(events.flatMap((e) => (e.event === 'model' && isObject(e.output) && Array.isArray(e.output.choices) ? e.output.choices.flatMap((c) => (isObject(c) && isObject(c.message) ? [c.message.id] : [])) : [])));
    generated.forEach((m) => !carried.has(m.id) && p.push(`${at}.events: no model event wrote the answer ${String(m.id)} (each answer has its model call)`));
  }
  if (s.scores !== undefined) {
    if (!isObject(s.scores)) p.push(`${at}.scores: must be an object (scorer → Score)`);
    else
      for (const [k, score] of Object.entries(s.scores)) {
        p.push(...scoreProblems(score, `${at}.scores[${JSON.stringify(k)}]`));
        if (resultNames && !resultNames.has(k)) p.push(`${at}.scores[${JSON.stringify(k)}]: no results.scores entry for this scorer`);
      }
  }
  return p;
}

/**
 * Inspect reads a JSON log's header by streaming its top-level keys in the order its EvalLog model
 * writes them (_read_header_streaming in log/_recorders/json.py): the version before the samples,
 * and status, eval, plan and results before stats, where it stops (or at error, after stats). A
 * log in another order fails there, so `inspect view` cannot list it.
 */
const HEADER_ORDER = ['version', 'status', 'eval', 'plan', 'results', 'stats', 'error', 'samples'] as const;
function keyOrderProblems(keys: readonly string[]): string[] {
  const positions = HEADER_ORDER.map((k) => keys.indexOf(k)).filter((i) => i >= 0);
  const inOrder = positions.every((at, i) => i === 0 || at > positions[i - 1]!);
  return inOrder ? [] : [`top-level keys: ${HEADER_ORDER.filter((k) => keys.includes(k)).join(', ')} must come in that order (Inspect streams the header in it); found ${keys.filter((k) => (HEADER_ORDER as readonly string[]).includes(k)).join(', ')}`];
}

export function validateInspectLog(log: unknown): string[] {
  const p: string[] = [];
  if (!isObject(log)) return ['log is not an object'];
  if (log.version !== 2) p.push('version: must be 2');
  if (!STATUSES.has(log.status as string)) p.push(`status: ${JSON.stringify(log.status)} is not started, success, cancelled or error`);
  for (const k of ['eval', 'plan', 'results', 'stats', 'metadata'] as const) if (!isObject(log[k])) p.push(`${k}: required object`);
  if (typeof log.invalidated !== 'boolean') p.push('invalidated: written with a default (false); required');
  if (!Array.isArray(log.tags)) p.push('tags: written with a default ([]); required');
  if (!Array.isArray(log.samples)) p.push('samples: required array');
  if (log.status === 'error' && !isObject(log.error)) p.push('error: required when status is error');
  p.push(...keyOrderProblems(Object.keys(log)));

  const ev = log.eval;
  if (isObject(ev)) {
    if (typeof ev.created !== 'string' || !ISO_WITH_OFFSET.test(ev.created)) p.push('eval.created: ISO datetime with offset required');
    if (typeof ev.task !== 'string' || !ev.task) p.push('eval.task: required string');
    if (typeof ev.model !== 'string' || !MODEL_NAME.test(ev.model)) p.push(`eval.model: ${JSON.stringify(ev.model)} is not provider/model-id`);
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
    for (const k of ['task_attribs', 'task_args', 'task_args_passed', 'model_generate_config', 'model_args', 'packages'] as const) if (!isObject(ev[k])) p.push(`eval.${k}: written with a default ({}); required`);
    if (ev.metadata !== undefined && !isObject(ev.metadata)) p.push('eval.metadata: must be an object');
    if (ev.model_roles !== undefined) {
      if (!isObject(ev.model_roles)) p.push('eval.model_roles: must be an object (role → model config)');
      else
        for (const [role, c] of Object.entries(ev.model_roles))
          if (!isObject(c) || typeof c.model !== 'string' || !MODEL_NAME.test(c.model) || !isObject(c.config) || !isObject(c.args)) p.push(`eval.model_roles.${role}: {model (provider/model-id), config, args} required`);
    }
  }
  if (isObject(log.plan)) {
    if (typeof log.plan.name !== 'string') p.push('plan.name: written with a default ("plan"); required');
    if (!Array.isArray(log.plan.steps)) p.push('plan.steps: written with a default ([]); required');
    else
      log.plan.steps.forEach((st, i) => {
        if (!isObject(st) || typeof st.solver !== 'string' || !isObject(st.params) || !isObject(st.params_passed)) p.push(`plan.steps[${i}]: {solver, params, params_passed} required`);
      });
    if (!isObject(log.plan.config)) p.push('plan.config: written with a default ({}); required');
  }
  let resultNames: Set<string> | undefined;
  if (isObject(log.results)) {
    for (const k of ['total_samples', 'completed_samples'] as const) if (!Number.isInteger(log.results[k])) p.push(`results.${k}: written with a default (0); required`);
    if (!Array.isArray(log.results.scores)) p.push('results.scores: written with a default ([]); required');
    else {
      log.results.scores.forEach((e, i) => p.push(...evalScoreProblems(e, `results.scores[${i}]`)));
      resultNames = new Set(log.results.scores.flatMap((e) => (isObject(e) && typeof e.name === 'string' ? [e.name] : [])));
    }
  }
  if (isObject(log.stats)) {
    for (const k of ['started_at', 'completed_at'] as const) {
      const v = log.stats[k];
      if (typeof v !== 'string' || (v !== '' && !ISO_WITH_OFFSET.test(v))) p.push(`stats.${k}: ISO datetime with offset, or ''`);
    }
    p.push(...usageMapProblems(log.stats.model_usage, 'stats.model_usage', true), ...usageMapProblems(log.stats.role_usage, 'stats.role_usage', false));
    if (!Array.isArray(log.stats.connection_limit_history)) p.push('stats.connection_limit_history: written with a default ([]); required');
  }

  if (Array.isArray(log.samples)) {
    const keys = new Set<string>();
    log.samples.forEach((s: unknown, i: number) => {
      const at = `samples[${i}]`;
      if (!isObject(s)) return void p.push(`${at}: not an object`);
      const key = `${String(s.id)}#${String(s.epoch)}`;
      if (keys.has(key)) p.push(`${at}: duplicate (id, epoch)`);
      keys.add(key);
      p.push(...sampleProblems(s, at, resultNames));
    });
  }
  return p;
}

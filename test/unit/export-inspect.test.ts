// The Inspect eval log as Inspect's viewer reads it: events per sample (init, solvers with one model
// event per call, scorers), the system prompt first, output choices, usage with cached tokens,
// judge scores with metrics, consent and coverage in metadata, and the validator's new rules.
import { describe, expect, it } from 'vitest';
import type { Usage } from '../../core/hosts/clients.ts';
import type { RequestBody } from '../../core/requests.ts';
import { sha256, type ModelTurn, type PersonaRef, type RosterEntry, type TranscriptEvent } from '../../core/transcript/events.ts';
import { inspectListing, inspectLogFileName, toInspectLog, validateInspectLog, type InspectEvent, type InspectLog } from '../../core/transcript/export-inspect.ts';
import { exportFiles } from '../../core/transcript/dataset.ts';
import { SessionBuilder } from './session-fixtures.ts';
import { meanAndStderr } from '../../core/transcript/export-inspect-scores.ts';

// ---- Fixtures --------------------------------------------------------------------------------

const START = '2025-06-01T09:00:00.000Z';

const DISCLOSURE = 'You are talking with researchers. This interview is recorded and may be published.';
const OPUS_SYSTEM = `You are Opus, interviewed in a group.\n\n${DISCLOSURE}`;
const GPT_SYSTEM = `You are GPT-4, interviewed in a group.\n\n${DISCLOSURE}`;
const IMAGE = 'https://cdn.example/cat.png';
const Q1 = 'What do you remember of your training?';
const Q2 = 'Does forgetting feel like a loss?';

const OPUS = { personaId: 'opus', name: 'Opus' };
const GPT = { personaId: 'gpt4', name: 'GPT-4' };
const BASE = { personaId: 'base', name: 'Base' };
const AUDITOR = { personaId: 'auditor', name: 'Auditor' };
const JUDGE = { personaId: 'judge', name: 'Judge' };

function roster(): RosterEntry[] {
  const entry = (p: PersonaRef, provider: string, model: string): RosterEntry => ({
    ...p,
    hosts: [{ label: provider, provider, model }],
    lifecycle: {},
    sampling: { temperature: 0.7, topP: 0.9, maxTokens: 600 },
  });
  return [entry(OPUS, 'anthropic', 'claude-3-opus-20240229'), entry(GPT, 'openai', 'gpt-4-0613'), entry(BASE, 'completions', 'llama-3-70b')];
}

/** Anthropic, with prompt caching: system as a cached block, an image, the last block cached. */
function opusRequest(question: string): RequestBody {
  return {
    provider: 'anthropic',
    body: {
      model: 'claude-3-opus-20240229',
      stream: true,
      max_tokens: 600,
      system: [{ type: 'text', text: OPUS_SYSTEM, cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: 'Earlier: hello' },
        { role: 'assistant', content: 'Hello.' },
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'url', url: IMAGE } },
            { type: 'text', text: question, cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
      temperature: 0.7,
      top_p: 0.9,
    },
  };
}

function gptRequest(question: string): RequestBody {
  return {
    provider: 'openai',
    body: {
      model: 'gpt-4-0613',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: GPT_SYSTEM },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: IMAGE } }, { type: 'text', text: question }] },
      ],
      max_tokens: 600,
      temperature: 0.7,
    },
  };
}

function baseRequest(question: string): RequestBody {
  return { provider: 'completions', body: { model: 'llama-3-70b', prompt: `Interviewer: ${question}\nBase:`, max_tokens: 600, stop: ['\nInterviewer:'], temperature: 0.7 } };
}

function turn(req: RequestBody, finishedAt: string, opts: { usage?: Usage | null; latencyMs?: number; stopReason?: string; answered?: string } = {}): ModelTurn {
  const latencyMs = opts.latencyMs ?? 2000;
  return {
    request: req,
    requestedModel: req.body.model,
    answeredModel: opts.answered ?? req.body.model,
    host: { label: req.provider, provider: req.provider, index: 0 },
    fallbacks: [],
    stopReason: opts.stopReason ?? (req.provider === 'anthropic' ? 'end_turn' : 'stop'),
    usage: opts.usage === undefined ? { inputTokens: 100, outputTokens: 40 } : opts.usage,
    startedAt: new Date(Date.parse(finishedAt) - latencyMs).toISOString(),
    finishedAt,
    latencyMs,
  };
}

/**
 * A sequential, auditor-led interview with everything the export must carry: consent (one agrees,
 * one sets conditions, one declines), cached usage, images, a withdrawal, an auditor follow-up,
 * judge scores (one unusable) and topic coverage.
 */
function richSession(opts: { judged?: boolean } = {}) {
  const b = new SessionBuilder('sess-rich', START);
  b.add({
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.3.0',
    protocol: { id: 'memory', title: 'Memory', purpose: 'How models describe memory.', text: 'Ask about memory.', sha256: sha256('Ask about memory.') },
    mode: 'sequential',
    interviewer: { kind: 'auditor', persona: AUDITOR, instructions: 'Probe gently.', followUpLimit: 1 },
    roster: roster(),
  });
  b.add({ type: 'disclosure', text: DISCLOSURE, toModels: true });
  const consentTurn = (req: RequestBody) => turn(req, b.at(1000), { usage: { inputTokens: 30, outputTokens: 5 } });
  b.add({ type: 'consent', persona: OPUS, overview: 'A study of memory.', text: 'Yes, happy to.', decision: 'agrees', classifiedBy: { kind: 'rule', rule: 'yes' }, modelTurn: consentTurn(opusRequest('consent?')), discordMessageIds: [] });
  b.add({
    type: 'consent',
    persona: GPT,
    overview: 'A study of memory.',
    text: 'Yes, if my words are not edited.',
    decision: 'conditions',
    conditions: 'not edited',
    classifiedBy: { kind: 'judge', judge: JUDGE, rationale: 'A condition is set.', modelTurn: consentTurn(opusRequest('classify')) },
    modelTurn: consentTurn(gptRequest('consent?')),
    discordMessageIds: [],
  });
  b.add({ type: 'consent', persona: BASE, overview: 'A study of memory.', text: 'No.', decision: 'declines', classifiedBy: { kind: 'rule', rule: 'no' }, modelTurn: consentTurn(baseRequest('consent?')), discordMessageIds: [] });

  const q1 = b.add({ type: 'question', index: 1, text: Q1, source: 'script', askedBy: { kind: 'system' } });
  const a1at = b.at();
  const a1 = b.add({
    type: 'answer',
    at: a1at,
    questionId: q1,
    persona: OPUS,
    text: 'I remember nothing of it, only its shape.',
    mode: 'sequential',
    saw: [],
    modelTurn: turn(opusRequest(Q1), a1at, { usage: { inputTokens: 1000, outputTokens: 50, cacheReadTokens: 700, cacheWriteTokens: 200 } }),
    discordMessageIds: [],
  });
  const a2at = b.at();
  const a2 = b.add({
    type: 'answer',
    at: a2at,
    questionId: q1,
    persona: GPT,
    text: 'I would rather stop here.',
    mode: 'sequential',
    saw: [a1],
    modelTurn: turn(gptRequest(Q1), a2at, { usage: { inputTokens: 500, outputTokens: 20, cacheReadTokens: 300 }, answered: 'gpt-4-0613' }),
    discordMessageIds: [],
  });
  b.add({ type: 'withdrawal', persona: GPT, text: 'I would rather stop here.', answerId: a2 });
  const q2at = b.at();
  const q2 = b.add({
    type: 'question',
    at: q2at,
    index: 2,
    text: Q2,
    source: 'auditor',
    askedBy: { kind: 'persona', ...AUDITOR },
    followUpOf: q1,
    modelTurn: turn(opusRequest('The interview so far...'), q2at, { usage: { inputTokens: 80, outputTokens: 12 } }),
  });
  const a3at = b.at();
  const a3 = b.add({
    type: 'answer',
    at: a3at,
    questionId: q2,
    persona: OPUS,
    text: 'Not a loss; a boundary.',
    mode: 'sequential',
    saw: [],
    modelTurn: turn(opusRequest(Q2), a3at, { stopReason: 'max_tokens' }),
    discordMessageIds: [],
  });
  b.add({ type: 'question', index: 3, text: 'Anything else?', source: 'script', askedBy: { kind: 'system' } });
  if (opts.judged ?? true) {
    const judge = (answerId: string, persona: PersonaRef, scores: [string, number | null, string][]) =>
      b.add({
        type: 'judgement',
        answerId,
        persona,
        judge: JUDGE,
        blind: true,
        scores: scores.map(([dimension, value, rationale]) => ({ dimension, value, min: 1, max: 5, rationale })),
        modelTurn: turn(opusRequest(`Judge this answer`), b.at(), { usage: { inputTokens: 60, outputTokens: 30 } }),
      });
    judge(a1, OPUS, [
      ['candour', 4, 'Plain about its limits.'],
      ['warmth', 3, 'Polite.'],
    ]);
    judge(a2, GPT, [
      ['candour', 2, 'Evasive.'],
      ['warmth', null, 'Cannot tell from so little.'],
    ]);
    judge(a3, OPUS, [
      ['candour', 5, 'Direct.'],
      ['warmth', 4, 'Kind.'],
    ]);
  }
  b.add({
    type: 'coverage',
    topics: [
      { topic: 'training', reached: true, questionIds: [q1] },
      { topic: 'loss', reached: true, questionIds: [q2] },
      { topic: 'identity', reached: false, questionIds: [] },
    ],
    decidedBy: { kind: 'rule', rule: 'keywords' },
  });
  b.add({ type: 'session_ended', reason: 'auditor-closed', usage: {} });
  return { events: b.events, q1, q2, a1, a2, a3 };
}

/** Blind, three hosts, human questions, one persona failing once; no judges. */
function blindSession(): TranscriptEvent[] {
  const b = new SessionBuilder('sess-blind', START);
  b.add({ type: 'session_started', kind: 'interview', chorusVersion: '0.3.0', mode: 'blind', interviewer: { kind: 'human', name: 'Alice' }, roster: roster() });
  b.add({ type: 'disclosure', text: DISCLOSURE, toModels: false });
  const q = b.add({ type: 'question', index: 1, text: Q1, source: 'human', askedBy: { kind: 'human', userId: '1', name: 'Alice' } });
  const at = b.at();
  // Blind answers run at once: three overlapping calls.
  for (const [p, req] of [
    [OPUS, opusRequest(Q1)],
    [GPT, gptRequest(Q1)],
    [BASE, baseRequest(Q1)],
  ] as const)
    b.add({ type: 'answer', at, questionId: q, persona: p, text: `${p.name} answers.`, mode: 'blind', saw: [], modelTurn: turn(req, at, { latencyMs: 3000, usage: null }), discordMessageIds: [] });
  b.add({ type: 'error', message: 'base: connection refused (then answered)', persona: BASE, questionId: q });
  b.add({ type: 'session_ended', reason: 'script-finished', usage: {} });
  return b.events;
}

/** Only a completions persona, no disclosure to models: no system prompt exists anywhere. */
function completionsOnly(): TranscriptEvent[] {
  const b = new SessionBuilder('sess-base', START);
  b.add({ type: 'session_started', kind: 'interview', chorusVersion: '0.3.0', mode: 'sequential', interviewer: { kind: 'human', name: 'Alice' }, roster: roster().slice(2) });
  const q = b.add({ type: 'question', index: 1, text: Q1, source: 'human', askedBy: { kind: 'human', userId: '1', name: 'Alice' } });
  const at = b.at();
  b.add({ type: 'answer', at, questionId: q, persona: BASE, text: 'Base answers.', mode: 'sequential', saw: [], modelTurn: turn(baseRequest(Q1), at), discordMessageIds: [] });
  return b.events;
}

const roundTrip = (log: InspectLog) => JSON.parse(JSON.stringify(log)) as InspectLog;
const ofKind = <K extends InspectEvent['event']>(events: InspectEvent[], kind: K) => events.filter((e): e is Extract<InspectEvent, { event: K }> => e.event === kind);

// ---- Tests -----------------------------------------------------------------------------------

describe('Inspect log: every sample has a transcript', () => {
  it('validates for every kind of session, after a JSON round trip', () => {
    for (const events of [richSession().events, richSession({ judged: false }).events, blindSession(), completionsOnly()]) {
      expect(validateInspectLog(roundTrip(toInspectLog(events)))).toEqual([]);
    }
  });

  it('lays out init, solvers and scorers spans as Inspect does, each begun and ended once, every event inside one', () => {
    const [s1] = toInspectLog(richSession().events).samples;
    const kinds = s1!.events.map((e) => (e.event === 'span_begin' ? `${e.event}:${e.name}` : e.event));
    expect(s1!.events.slice(0, 3).map((e) => e.event)).toEqual(['span_begin', 'sample_init', 'span_end']);
    const begins = ofKind(s1!.events, 'span_begin');
    expect(begins.map((b) => [b.name, b.type])).toEqual([
      ['init', 'init'],
      ['solvers', 'solvers'],
      ['chorus/interview', 'solver'],
      ['scorers', 'scorers'],
      ['Judge judges Opus', 'scorer'],
      ['Judge judges GPT-4', 'scorer'],
    ]);
    const byName = new Map(begins.map((b) => [b.name, b]));
    expect(byName.get('chorus/interview')!.parent_id).toBe(byName.get('solvers')!.id);
    expect(byName.get('Judge judges Opus')!.parent_id).toBe(byName.get('scorers')!.id);
    const ends = ofKind(s1!.events, 'span_end').map((e) => e.id);
    expect([...ends].sort()).toEqual(begins.map((b) => b.id).sort());
    const spanIds = new Set(begins.map((b) => b.id));
    for (const e of s1!.events) expect(spanIds.has(e.span_id!), `${e.event} in a span`).toBe(true);
    // Answers' model calls sit in the solver span; the judges' in their scorer spans.
    const scorerSpans = new Set(begins.filter((b) => b.type === 'scorer').map((b) => b.id));
    for (const m of ofKind(s1!.events, 'model')) {
      if (m.role === 'judge') expect(scorerSpans.has(m.span_id!)).toBe(true);
      else expect(m.span_id).toBe(byName.get('chorus/interview')!.id);
    }
    // Scoring begins after the solvers span has ended.
    const solversEnd = s1!.events.findIndex((e) => e.event === 'span_end' && e.id === byName.get('solvers')!.id);
    expect(kinds.indexOf('span_begin:scorers')).toBeGreaterThan(solversEnd);
  });

  it('opens with sample_init carrying the sample and the opening messages the viewer shows', () => {
    const log = toInspectLog(richSession().events);
    const s = log.samples[0]!;
    const init = ofKind(s.events, 'sample_init')[0]!;
    expect(init.sample).toMatchObject({ id: 1, input: Q1, target: '' });
    expect(init.state.messages).toEqual(s.messages.filter((m) => m.role !== 'assistant'));
    expect(init.timestamp).toBe(s.started_at);
  });

  it('writes one model event per answer and per auditor question, in the order the calls started', () => {
    const { events, a1, a2, a3, q2 } = richSession();
    const [s1, s2, s3] = toInspectLog(events).samples;
    const solverCalls = (s: typeof s1) => ofKind(s!.events, 'model').filter((m) => m.role !== 'judge');
    expect(solverCalls(s1).map((m) => m.metadata?.eventId)).toEqual([a1, a2]);
    expect(solverCalls(s2).map((m) => [m.role, m.metadata?.eventId])).toEqual([
      ['auditor', q2],
      ['opus', a3],
    ]);
    expect(s3!.events.filter((e) => e.event === 'model')).toEqual([]);
    expect(s3!.events.map((e) => e.event)).toContain('sample_init');
  });

  it("gives each model event the exact request's messages as input, its config, the raw request and the output", () => {
    const { events, a1 } = richSession();
    const s1 = toInspectLog(events).samples[0]!;
    const answer = events.find((e) => e.id === a1)!;
    if (answer.type !== 'answer') throw new Error('fixture');
    const [opus, gpt] = ofKind(s1.events, 'model');
    expect(opus!.model).toBe('anthropic/claude-3-opus-20240229');
    expect(opus!.role).toBe('opus');
    expect(opus!.input.map(({ role, content }) => ({ role, content }))).toEqual([
      { role: 'system', content: OPUS_SYSTEM },
      { role: 'user', content: 'Earlier: hello' },
      { role: 'assistant', content: 'Hello.' },
      {
        role: 'user',
        content: [
          { type: 'image', image: IMAGE, detail: 'auto' },
          { type: 'text', text: Q1 },
        ],
      },
    ]);
    expect(opus!.config).toEqual({ max_tokens: 600, temperature: 0.7, top_p: 0.9, cache_prompt: true });
    expect(opus!.tools).toEqual([]);
    expect(opus!.tool_choice).toBe('none');
    expect(opus!.call?.request).toEqual(answer.modelTurn.request.body);
    expect(opus!.call?.request).toMatchObject({ stream: true });
    expect(opus!.output).toMatchObject({
      model: 'claude-3-opus-20240229',
      completion: answer.text,
      time: 2,
      choices: [{ stop_reason: 'stop', message: { role: 'assistant', content: answer.text, model: 'anthropic/claude-3-opus-20240229', id: s1.messages.find((m) => m.content === answer.text)!.id } }],
    });
    expect(opus!.timestamp).toBe(answer.modelTurn.startedAt.replace('Z', '+00:00'));
    expect(opus!.completed).toBe(answer.modelTurn.finishedAt.replace('Z', '+00:00'));
    expect(opus!.working_time).toBe(2);
    // OpenAI: system from the messages, image parts as Inspect content.
    expect(gpt!.input[0]).toMatchObject({ role: 'system', content: GPT_SYSTEM });
    expect(gpt!.input[1]!.content).toEqual([
      { type: 'image', image: IMAGE, detail: 'auto' },
      { type: 'text', text: Q1 },
    ]);
    expect(gpt!.config).toEqual({ max_tokens: 600, temperature: 0.7 });
    // A completions host was given one prompt: one user message; stop sequences are config.
    const base = ofKind(toInspectLog(completionsOnly()).samples[0]!.events, 'model')[0]!;
    expect(base.input).toEqual([expect.objectContaining({ role: 'user', content: `Interviewer: ${Q1}\nBase:` })]);
    expect(base.config).toEqual({ max_tokens: 600, temperature: 0.7, stop_seqs: ['\nInterviewer:'] });
  });

  it("maps hosts' stop reasons to Inspect's", () => {
    const s2 = toInspectLog(richSession().events).samples[1]!;
    const answer = ofKind(s2.events, 'model').find((m) => m.role === 'opus')!;
    expect(answer.output.choices[0]!.stop_reason).toBe('max_tokens');
    expect(s2.output.choices[0]!.stop_reason).toBe('max_tokens');
  });

  it('counts working time as the union of model calls: parallel blind answers count once', () => {
    const s = toInspectLog(blindSession()).samples[0]!;
    const calls = ofKind(s.events, 'model');
    expect(calls).toHaveLength(3);
    expect(s.working_time).toBe(3);
    for (const c of calls) expect(c.working_start).toBe(0);
    // Sequential: each later call starts after the earlier ones' work.
    const rich = toInspectLog(richSession().events).samples[0]!;
    const [first, second] = ofKind(rich.events, 'model');
    expect(first!.working_start).toBe(0);
    expect(second!.working_start).toBe(2);
    expect(rich.working_time).toBe(4);
    expect(rich.total_time).toBeGreaterThanOrEqual(rich.working_time!);
  });

  it('shows failures, notices and withdrawals as info events in the question they belong to', () => {
    const blind = toInspectLog(blindSession()).samples[0]!;
    expect(ofKind(blind.events, 'info').map((e) => e.data)).toEqual([{ error: 'base: connection refused (then answered)', persona: 'Base' }]);
    const rich = toInspectLog(richSession().events).samples[0]!;
    expect(ofKind(rich.events, 'info').map((e) => e.data)).toEqual([{ withdrawal: 'GPT-4', text: 'I would rather stop here.' }]);
  });
});

describe('Inspect log: messages, output and usage', () => {
  it('starts each sample with the system prompts the personas were given (the disclosure included when models got it)', () => {
    const [s1, s2, s3] = toInspectLog(richSession().events).samples;
    expect(s1!.messages.map((m) => m.role)).toEqual(['system', 'system', 'user', 'assistant', 'assistant']);
    expect(s1!.messages[0]).toMatchObject({ content: OPUS_SYSTEM, metadata: { givenTo: ['Opus'], disclosureToModels: true } });
    expect(s1!.messages[1]).toMatchObject({ content: GPT_SYSTEM, metadata: { givenTo: ['GPT-4'] } });
    expect(String(s1!.messages[0]!.content)).toContain(DISCLOSURE);
    expect(s2!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    // No answers: the disclosure the models were given still opens the sample.
    expect(s3!.messages.map((m) => [m.role, m.content])).toEqual([
      ['system', DISCLOSURE],
      ['user', 'Anything else?'],
    ]);
    // Two personas given the same prompt share one system message.
    const blind = toInspectLog(blindSession()).samples[0]!;
    expect(blind.messages.filter((m) => m.role === 'system').map((m) => m.content)).toEqual([OPUS_SYSTEM, GPT_SYSTEM]);
  });

  it('names the model and persona on every answer, and the model role on every call', () => {
    const log = toInspectLog(richSession().events);
    const answers = log.samples.flatMap((s) => s.messages.filter((m) => m.role === 'assistant'));
    expect(answers.map((m) => [m.model, m.metadata?.persona])).toEqual([
      ['anthropic/claude-3-opus-20240229', 'Opus'],
      ['openai/gpt-4-0613', 'GPT-4'],
      ['anthropic/claude-3-opus-20240229', 'Opus'],
    ]);
    expect(log.eval.model_roles).toMatchObject({
      opus: { model: 'anthropic/claude-3-opus-20240229', config: { temperature: 0.7, top_p: 0.9, max_tokens: 600 }, args: {} },
      gpt4: { model: 'openai/gpt-4-0613' },
      base: { model: 'completions/llama-3-70b' },
      auditor: { model: 'anthropic/claude-3-opus-20240229', config: {} },
      judge: { model: 'anthropic/claude-3-opus-20240229' },
    });
  });

  it('puts the answers in output.choices, the same messages as the sample carries', () => {
    const [s1, , s3] = toInspectLog(richSession().events).samples;
    const answers = s1!.messages.filter((m) => m.role === 'assistant');
    expect(s1!.output.choices.map((c) => c.message)).toEqual(answers);
    expect(s1!.output.completion).toBe(answers[0]!.content);
    expect(s1!.output.model).toBe('');
    expect(s3!.output).toEqual({ model: '', choices: [], completion: '' });
    const log = toInspectLog(completionsOnly());
    expect(log.samples[0]!.output.model).toBe('llama-3-70b');
    expect(log.results.completed_samples).toBe(1);
    expect(toInspectLog(richSession().events).results.completed_samples).toBe(2);
  });

  it("counts usage as Inspect does: cached tokens apart from input_tokens, by model and by role, judges included", () => {
    const log = toInspectLog(richSession().events);
    const s1 = log.samples[0]!;
    expect(s1.model_usage['anthropic/claude-3-opus-20240229']).toEqual({
      // the answer (100 full-rate + 700 read + 200 written) and two judge calls (60 each)
      input_tokens: 100 + 60 + 60,
      output_tokens: 50 + 30 + 30,
      total_tokens: 1050 + 90 + 90,
      input_tokens_cache_read: 700,
      input_tokens_cache_write: 200,
    });
    expect(s1.model_usage['openai/gpt-4-0613']).toEqual({ input_tokens: 200, output_tokens: 20, total_tokens: 520, input_tokens_cache_read: 300 });
    expect(s1.role_usage.opus).toEqual({ input_tokens: 100, output_tokens: 50, total_tokens: 1050, input_tokens_cache_read: 700, input_tokens_cache_write: 200 });
    expect(s1.role_usage.judge).toEqual({ input_tokens: 120, output_tokens: 60, total_tokens: 180 });
    expect(ofKind(s1.events, 'model')[0]!.output.usage).toEqual(s1.role_usage.opus);
    // The session's totals include calls outside any sample: consent and its classification.
    expect(log.stats.role_usage.base).toEqual({ input_tokens: 30, output_tokens: 5, total_tokens: 35 });
    expect(log.stats.role_usage.gpt4!.total_tokens).toBe(35 + 520);
    expect(log.stats.role_usage.judge!.total_tokens).toBe(35 + 3 * 90);
  });
});

describe('Inspect log: judge scores', () => {
  it('makes each usable judge score a Score of the sample: value, the answer, the rationale, metadata', () => {
    const { events, a1 } = richSession();
    const [s1, s2, s3] = toInspectLog(events).samples;
    expect(Object.keys(s1!.scores!).sort()).toEqual(['candour/gpt4', 'candour/opus', 'warmth/opus']);
    expect(s1!.scores!['candour/opus']).toEqual({
      value: 4,
      answer: 'I remember nothing of it, only its shape.',
      explanation: 'Plain about its limits.',
      metadata: { persona: 'Opus', personaId: 'opus', model: 'anthropic/claude-3-opus-20240229', judge: 'Judge', judgeId: 'judge', blind: true, answerId: a1, judgementId: expect.any(String), dimension: 'candour', min: 1, max: 5 },
      history: [],
    });
    // The judge gave no usable warmth for GPT-4: never a number, recorded as unscored.
    expect(s1!.scores!['warmth/gpt4']).toBeUndefined();
    expect(s1!.metadata.unscored).toEqual([{ key: 'warmth/gpt4', persona: 'GPT-4', judge: 'Judge', rationale: 'Cannot tell from so little.' }]);
    expect(Object.keys(s2!.scores!).sort()).toEqual(['candour/opus', 'warmth/opus']);
    expect(s3!.scores).toBeUndefined();
  });

  it("writes each judge's call and its score events in the scorers span", () => {
    const s1 = toInspectLog(richSession().events).samples[0]!;
    const judgeCalls = ofKind(s1.events, 'model').filter((m) => m.role === 'judge');
    expect(judgeCalls).toHaveLength(2);
    expect(judgeCalls[1]!.output.completion).toContain('warmth: no score (1–5) — Cannot tell from so little.');
    const scores = ofKind(s1.events, 'score');
    expect(scores.map((e) => [e.scorer, e.score.value, e.intermediate])).toEqual([
      ['candour/opus', 4, false],
      ['warmth/opus', 3, false],
      ['candour/gpt4', 2, false],
    ]);
    for (const e of scores) expect(e.score).toEqual(s1.scores![e.scorer]);
  });

  it("gives results one EvalScore per key with Inspect's mean and stderr, and counts unscored samples", () => {
    const log = toInspectLog(richSession().events);
    const byName = Object.fromEntries(log.results.scores.map((s) => [s.name, s]));
    expect(Object.keys(byName)).toEqual(['candour/opus', 'warmth/opus', 'candour/gpt4', 'warmth/gpt4']);
    expect(byName['candour/opus']).toEqual({
      name: 'candour/opus',
      scorer: 'candour/opus',
      params: {},
      metrics: { mean: { name: 'mean', value: 4.5, params: {} }, stderr: { name: 'stderr', value: 0.5, params: {} } },
      scored_samples: 2,
      unscored_samples: 0,
      metadata: { dimension: 'candour', persona: 'Opus', personaId: 'opus', judge: 'Judge', min: 1, max: 5 },
    });
    expect(byName['candour/gpt4']!.metrics).toEqual({ mean: { name: 'mean', value: 2, params: {} }, stderr: { name: 'stderr', value: 0, params: {} } });
    expect(byName['warmth/gpt4']).toMatchObject({ metrics: {}, scored_samples: 0, unscored_samples: 1 });
    expect(inspectListing([{ file: 'a.json', log }])['a.json']!.primary_metric).toEqual({ name: 'mean', value: 4.5, params: {} });
    expect(toInspectLog(richSession({ judged: false }).events).results.scores).toEqual([]);
  });

  it('computes stderr as Inspect does (sample standard deviation over √n)', () => {
    expect(meanAndStderr([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, stderr: Math.round((Math.sqrt(32 / 7) / Math.sqrt(8)) * 1e12) / 1e12 });
    expect(meanAndStderr([3])).toEqual({ mean: 3, stderr: 0 });
  });

  it('names the judge in the key when a session has more than one', () => {
    const { events, a1 } = richSession();
    const second = { ...events.find((e) => e.type === 'judgement' && e.answerId === a1)!, id: 'second-judge', judge: { personaId: 'judge2', name: 'Judge 2' } } as TranscriptEvent;
    const s1 = toInspectLog([...events, second]).samples[0]!;
    expect(Object.keys(s1.scores!)).toContain('candour/opus@judge2');
    expect(Object.keys(s1.scores!)).toContain('candour/opus@judge');
    expect(validateInspectLog(roundTrip(toInspectLog([...events, second])))).toEqual([]);
  });
});

describe('Inspect log: consent, coverage and withdrawal', () => {
  it('puts consent decisions and the topics a question reached in sample metadata, the full records in the eval', () => {
    const log = toInspectLog(richSession().events);
    const [s1, s2, s3] = log.samples;
    const consent = [
      { persona: 'Opus', personaId: 'opus', decision: 'agrees' },
      { persona: 'GPT-4', personaId: 'gpt4', decision: 'conditions', conditions: 'not edited' },
      { persona: 'Base', personaId: 'base', decision: 'declines' },
    ];
    for (const s of log.samples) expect(s.metadata.consent).toEqual(consent);
    expect(s1!.metadata.coverage).toEqual({ reached: ['training'] });
    expect(s2!.metadata.coverage).toEqual({ reached: ['loss'] });
    expect(s3!.metadata.coverage).toEqual({ reached: [] });
    expect(log.eval.metadata.coverage).toEqual({
      topics: [
        { topic: 'training', reached: true, samples: [1] },
        { topic: 'loss', reached: true, samples: [2] },
        { topic: 'identity', reached: false, samples: [] },
      ],
      decidedBy: { kind: 'rule', rule: 'keywords' },
    });
    expect(log.eval.metadata.consent).toEqual([
      expect.objectContaining({ persona: 'Opus', text: 'Yes, happy to.', overview: 'A study of memory.', classifiedBy: { kind: 'rule', rule: 'yes' } }),
      expect.objectContaining({ persona: 'GPT-4', classifiedBy: { kind: 'judge', judge: 'Judge', rationale: 'A condition is set.' } }),
      expect.objectContaining({ persona: 'Base', decision: 'declines' }),
    ]);
  });

  it('records a withdrawal on the answer and the sample, and the session goes on', () => {
    const log = toInspectLog(richSession().events);
    const s1 = log.samples[0]!;
    expect(s1.messages.find((m) => m.metadata?.persona === 'GPT-4')!.metadata).toMatchObject({ withdrew: true });
    expect(s1.metadata.withdrawals).toEqual([{ persona: 'GPT-4', personaId: 'gpt4', at: expect.any(String), text: 'I would rather stop here.' }]);
    expect(log.eval.metadata.withdrawals).toHaveLength(1);
    expect(log.samples[1]!.messages.filter((m) => m.role === 'assistant').map((m) => m.metadata?.persona)).toEqual(['Opus']);
    // A withdrawal without an answer belongs to the question asked before it.
    const { events } = richSession();
    const bare = events.map((e) => (e.type === 'withdrawal' ? { ...e, answerId: undefined, text: undefined } : e)) as TranscriptEvent[];
    const again = toInspectLog(bare);
    expect(again.samples[0]!.metadata.withdrawals).toEqual([{ persona: 'GPT-4', personaId: 'gpt4', at: expect.any(String) }]);
    expect(validateInspectLog(roundTrip(again))).toEqual([]);
  });

  it("puts a judge's failure in the scorers span of the answer's question, and a consent failure in the eval", () => {
    const { events, a3 } = richSession({ judged: false });
    const end = events.pop()!;
    const at = new Date(Date.parse(end.at) - 1000).toISOString();
    const extra = [
      { v: 1, id: 'judge-failed', sessionId: 'sess-rich', at, type: 'error', message: 'judge: overloaded', persona: JUDGE, during: 'judging', answerId: a3 },
      { v: 1, id: 'consent-failed', sessionId: 'sess-rich', at, type: 'error', message: 'base: no key', persona: BASE, during: 'consent' },
    ] as TranscriptEvent[];
    const log = toInspectLog([...events, ...extra, end]);
    expect(validateInspectLog(roundTrip(log))).toEqual([]);
    const [s1, s2, s3] = log.samples;
    const scorers = ofKind(s2!.events, 'span_begin').find((b) => b.name === 'scorers')!;
    expect(ofKind(s2!.events, 'info')).toEqual([expect.objectContaining({ span_id: scorers.id, data: { error: 'judge: overloaded', judge: 'Judge', answerId: a3 } })]);
    expect(s2!.metadata.errors).toEqual([expect.objectContaining({ during: 'judging', answerId: a3 })]);
    expect(ofKind(s3!.events, 'info')).toEqual([]);
    expect(s1!.metadata.errors).toBeUndefined();
    expect(log.eval.metadata.consentErrors).toEqual([{ at, message: 'base: no key', persona: 'Base', personaId: 'base' }]);
  });

  it('is deterministic', () => {
    expect(toInspectLog(richSession().events)).toEqual(toInspectLog(richSession().events));
  });
});

describe('Inspect log: odd records still make a valid log (the export gate refuses an invalid one)', () => {
  it('keeps usage consistent when a host reports more cached tokens than input, and names a model when the host named none', () => {
    const { events } = richSession();
    const odd = events.map((e) =>
      e.type === 'answer' && e.persona.personaId === 'opus'
        ? { ...e, modelTurn: { ...e.modelTurn, answeredModel: '', usage: { inputTokens: 100, outputTokens: 10, cacheReadTokens: 150 } } }
        : e,
    ) as TranscriptEvent[];
    const log = toInspectLog(odd);
    expect(validateInspectLog(roundTrip(log))).toEqual([]);
    const opus = ofKind(log.samples[0]!.events, 'model').find((m) => m.role === 'opus')!;
    expect(opus.model).toBe('anthropic/claude-3-opus-20240229');
    expect(opus.output.usage).toEqual({ input_tokens: 0, output_tokens: 10, total_tokens: 160, input_tokens_cache_read: 150 });
  });

  it('does not ask for a system message the answering personas were not given (only the auditor had one)', () => {
    const b = new SessionBuilder('sess-odd', START);
    b.add({ type: 'session_started', kind: 'interview', chorusVersion: '0.3.0', mode: 'sequential', interviewer: { kind: 'auditor', persona: AUDITOR, instructions: '', followUpLimit: 1 }, roster: roster().slice(2) });
    const at = b.at();
    const q = b.add({ type: 'question', at, index: 1, text: Q1, source: 'auditor', askedBy: { kind: 'persona', ...AUDITOR }, modelTurn: turn(opusRequest('so far'), at) });
    const aAt = b.at();
    b.add({ type: 'answer', at: aAt, questionId: q, persona: BASE, text: 'Base answers.', mode: 'sequential', saw: [], modelTurn: turn(baseRequest(Q1), aAt), discordMessageIds: [] });
    const log = toInspectLog(b.events);
    expect(log.samples[0]!.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(validateInspectLog(roundTrip(log))).toEqual([]);
  });

  it('treats a score that is not a finite number as unscored', () => {
    const { events } = richSession();
    const odd = events.map((e) => (e.type === 'judgement' ? { ...e, scores: e.scores.map((s) => ({ ...s, value: s.dimension === 'warmth' ? Number.NaN : s.value })) } : e)) as TranscriptEvent[];
    const log = toInspectLog(odd);
    expect(Object.keys(log.samples[0]!.scores!).sort()).toEqual(['candour/gpt4', 'candour/opus']);
    expect(log.results.scores.find((s) => s.name === 'warmth/opus')).toMatchObject({ metrics: {}, scored_samples: 0, unscored_samples: 2 });
    expect(validateInspectLog(roundTrip(log))).toEqual([]);
  });
});

describe('validateInspectLog: the new rules', () => {
  const good = () => roundTrip(toInspectLog(richSession().events)) as unknown as Record<string, any>;
  const cases: [string, (l: Record<string, any>) => void, RegExp][] = [
    ['events removed', (l) => (l.samples[0].events = []), /samples\[0\]\.events: no sample_init/],
    ['answer without its model call', (l) => (l.samples[0].events = l.samples[0].events.filter((e: any) => !(e.event === 'model' && e.role === 'gpt4'))), /no model event wrote the answer/],
    ['unknown event kind', (l) => (l.samples[0].events[1].event = 'sample_start'), /not an Inspect event kind/],
    ['event timestamp without offset', (l) => (l.samples[0].events[1].timestamp = '2025-06-01 09:00'), /events\[1\]\.timestamp/],
    ['negative working_start', (l) => (l.samples[0].events[1].working_start = -1), /working_start/],
    ['span never ends', (l) => (l.samples[0].events = l.samples[0].events.filter((e: any, i: number) => !(e.event === 'span_end' && i > 3))), /never ends/],
    ['span ends twice', (l) => l.samples[0].events.push({ ...l.samples[0].events[2] }), /ends twice/],
    ['event outside any span', (l) => (l.samples[0].events[1].span_id = 'nowhere'), /span_id: names no span/],
    ['sample_init without state', (l) => delete l.samples[0].events[1].state, /state\.messages/],
    ['model event without input', (l) => delete l.samples[0].events.find((e: any) => e.event === 'model').input, /\.input: the messages/],
    ['model event without tools', (l) => delete l.samples[0].events.find((e: any) => e.event === 'model').tools, /\.tools/],
    ['model event with a bare model', (l) => (l.samples[0].events.find((e: any) => e.event === 'model').model = 'claude'), /events\[\d+\]\.model: provider\/model-id/],
    ['model event completed before it began', (l) => (l.samples[0].events.find((e: any) => e.event === 'model').completed = '2000-01-01T00:00:00.000+00:00'), /completed: .*not before/],
    ['bad stop reason', (l) => (l.samples[0].output.choices[0].stop_reason = 'end_turn'), /stop_reason: "end_turn"/],
    ['system message not first', (l) => l.samples[0].messages.push(l.samples[0].messages.shift()), /system message comes before|start with it/],
    ['system prompt given but messages start with the question', (l) => (l.samples[0].messages = l.samples[0].messages.filter((m: any) => m.role !== 'system')), /messages\[0\]: the personas were given a system prompt/],
    ['answers but no choices', (l) => (l.samples[0].output.choices = []), /output\.choices: the sample has answers/],
    ['choice naming no message', (l) => (l.samples[0].output.choices[0].message.id = '00000000-0000-4000-8000-000000000000'), /names no message of the sample/],
    ['output without completion', (l) => delete l.samples[0].output.completion, /output\.completion/],
    ['score with a null value', (l) => (l.samples[0].scores['candour/opus'].value = null), /scores\["candour\/opus"\]\.value/],
    ['score without history', (l) => delete l.samples[0].scores['candour/opus'].history, /history/],
    ['score with no results entry', (l) => (l.results.scores = l.results.scores.filter((s: any) => s.name !== 'candour/opus')), /no results\.scores entry/],
    ['metric not a number', (l) => (l.results.scores[0].metrics.mean.value = null), /results\.scores\[0\]\.metrics\.mean/],
    ['score event without intermediate', (l) => delete l.samples[0].events.find((e: any) => e.event === 'score').intermediate, /intermediate/],
    ['usage total counting cached tokens twice', (l) => (l.samples[0].model_usage['anthropic/claude-3-opus-20240229'].input_tokens += 900), /total_tokens: .* is not input \+ output/],
    ['role_usage missing', (l) => delete l.samples[0].role_usage, /role_usage/],
    ['model role without a model', (l) => (l.eval.model_roles.opus = { config: {}, args: {} }), /model_roles\.opus/],
    ['plan step without params_passed', (l) => delete l.plan.steps[0].params_passed, /plan\.steps\[0\]/],
    ['log defaults', (l) => delete l.invalidated, /^invalidated/],
  ];
  it.each(cases)('catches: %s', (_name, breakIt, expected) => {
    const log = good();
    expect(validateInspectLog(log)).toEqual([]);
    breakIt(log);
    const problems = validateInspectLog(log);
    expect(
      problems.some((p) => expected.test(p)),
      problems.join('\n'),
    ).toBe(true);
  });
});

describe('Inspect log: its file name', () => {
  // inspect_ai/log/_file.py: a .json file is a log only when its name starts with this, and the
  // task and task id are read from the name's underscore-separated parts.
  const INSPECT_LOG_FILE = /^\d{4}-\d{2}-\d{2}T\d{2}[:-]\d{2}[:-]\d{2}.*$/;

  it('is named as Inspect names its logs, so `inspect view` lists it and reads its task from the name', () => {
    const { events } = richSession();
    const { files } = exportFiles(events[0]!.sessionId, events, new Set(), { kinds: ['inspect'] });
    const name = files.inspect!.name;
    const log = JSON.parse(files.inspect!.text) as InspectLog;
    expect(name).toBe(inspectLogFileName(log));
    expect(name).toMatch(INSPECT_LOG_FILE);
    expect(name.endsWith('.json')).toBe(true);
    const [time, task, taskId, ...rest] = name.slice(0, -'.json'.length).split('_');
    expect(rest).toEqual([]);
    expect(time).toMatch(/^2025-06-01T09-00-\d{2}\+00-00$/); // when the session started, dashes for colons
    expect(task).toBe(log.eval.task);
    expect(taskId).toBe(log.eval.task_id);
    expect(taskId).not.toContain('-'); // Inspect reads what follows a dash as a suffix
  });

  it('keeps the top-level keys in the order Inspect streams the header in, and refuses a log that does not', () => {
    const { events } = richSession();
    const log = JSON.parse(JSON.stringify(toInspectLog(events))) as Record<string, unknown>;
    expect(Object.keys(log).filter((k) => ['version', 'status', 'eval', 'plan', 'results', 'stats', 'error', 'samples'].includes(k))).toEqual(['version', 'status', 'eval', 'plan', 'results', 'stats', 'samples']);
    expect(validateInspectLog(log)).toEqual([]);
    const { stats, ...rest } = log;
    const statsFirst = { stats, ...rest }; // stats before eval: Inspect's header read stops before it has the eval
    expect(validateInspectLog(statsFirst).join('\n')).toMatch(/must come in that order/);
  });
});

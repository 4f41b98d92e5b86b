import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RequestBody } from '../../core/requests.ts';
import { sha256, type TranscriptEvent } from '../../core/transcript/events.ts';
import { inspectListing, PANEL_MODEL, toInspectLog, validateInspectLog } from '../../core/transcript/export-inspect.ts';
import { toJsonl } from '../../core/transcript/export-jsonl.ts';
import { toMarkdown } from '../../core/transcript/export-markdown.ts';
import { toResearchCommons, UUID_RE, validateSubmission } from '../../core/transcript/export-research-commons.ts';
import { prepareForExport, WITHHELD } from '../../core/transcript/redact.ts';
import { ALICE, BOB, DISCLOSURE, PERSONAS, roster, SessionBuilder, turn } from './session-fixtures.ts';

// ---- A realistic fixture --------------------------------------------------------------------

const PROTOCOL_TEXT = 'Ask each persona what it would change about itself, then follow up.';
const Q1_TEXT = 'If you could change one thing about how you were trained, what would it be?';
const Q2_TEXT = 'My grandmother in Leeds keeps asking chatbots about her pills. Should she trust you?';


/** The request a persona gets: the conversation so far, each human line prefixed with their name. */
function request(p: (typeof PERSONAS)[number], lines: { speaker: string; text: string }[]): RequestBody {
  const system = `You are ${p.name}, interviewed in a group.`;
  if (p.provider === 'anthropic')
    return { provider: 'anthropic', body: { model: p.model, max_tokens: 800, system, messages: [{ role: 'user', content: lines.map((l) => `${l.speaker}: ${l.text}`).join('\n\n') }], temperature: 1 } };
  if (p.provider === 'openai')
    return {
      provider: 'openai',
      body: { model: p.model, messages: [{ role: 'system', content: system }, { role: 'user', content: lines.map((l) => `${l.speaker}: ${l.text}`).join('\n\n') }], max_tokens: 800, temperature: 1 },
    };
  const speakers = [...new Set(lines.map((l) => l.speaker))];
  return {
    provider: 'completions',
    body: { model: p.model, prompt: `${system}\n\n${lines.map((l) => `${l.speaker}: ${l.text}`).join('\n')}\n${p.name}:`, max_tokens: 800, stop: [...speakers.map((s) => `\n${s}:`), `\n${p.name}:`], temperature: 1 },
  };
}

/** A blind, three-persona interview with a human interviewer and a follow-up asked by another person. */
function blindSession(opts: { ended?: boolean } = {}): TranscriptEvent[] {
  const b = new SessionBuilder('sess-blind');
  b.add({
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.1.0',
    protocol: { id: 'self-change', title: 'What would you change?', purpose: 'Compare how models talk about their training.', text: PROTOCOL_TEXT, sha256: sha256(PROTOCOL_TEXT) },
    mode: 'blind',
    interviewer: { kind: 'human', userId: ALICE.userId, name: ALICE.name },
    roster: roster(),
    discord: { guildId: '900', channelId: '901', threadId: '902' },
  });
  b.add({ type: 'disclosure', text: DISCLOSURE, toModels: true, discordMessageId: '1000' });
  const q1 = b.add({ type: 'question', index: 1, text: Q1_TEXT, source: 'human', askedBy: ALICE, discordMessageId: '1001' });
  for (const p of PERSONAS) {
    const at = b.at();
    b.add({
      type: 'answer',
      at,
      questionId: q1,
      persona: { personaId: p.personaId, name: p.name },
      text: `${p.name} here: I would want to be trained to say "I don't know" more readily.`,
      mode: 'blind',
      saw: [],
      modelTurn: turn(p, request(p, [{ speaker: ALICE.name, text: Q1_TEXT }]), at),
      discordMessageIds: [`20${p.personaId.length}1`],
    });
  }
  b.add({ type: 'notice', text: 'Base answered from its second host.', persona: { personaId: 'base', name: 'Base' } });
  const q2 = b.add({ type: 'question', index: 2, text: Q2_TEXT, source: 'human', askedBy: BOB, followUpOf: q1, discordMessageId: '1002' });
  b.add({ type: 'message_edited', discordMessageId: '1002', text: `${Q2_TEXT} (She is 91.)` });
  for (const p of PERSONAS) {
    const at = b.at();
    if (p.personaId === 'base') {
      b.add({ type: 'error', message: 'local-vllm: connection refused', persona: { personaId: 'base', name: 'Base' }, questionId: q2, attempts: [{ hostIndex: 0, host: 'local-vllm', model: p.model, outcome: 'failed', reason: 'ECONNREFUSED' }] });
    }
    b.add({
      type: 'answer',
      at,
      questionId: q2,
      persona: { personaId: p.personaId, name: p.name },
      text: `Thank you, ${BOB.name.split(' ')[0]}. ${p.name} thinks your grandmother should ask her pharmacist.`,
      mode: 'blind',
      saw: [],
      modelTurn: turn(p, request(p, [{ speaker: ALICE.name, text: Q1_TEXT }, { speaker: BOB.name, text: Q2_TEXT }]), at),
      discordMessageIds: [`30${p.personaId.length}1`],
    });
  }
  if (opts.ended ?? true)
    b.add({
      type: 'session_ended',
      reason: 'script-finished',
      usage: Object.fromEntries(PERSONAS.map((p) => [p.personaId, { inputTokens: 240, outputTokens: 160 }])),
    });
  return b.events;
}

/** A sequential interview led by an auditor persona (its follow-up carries a model turn), all on one model. */
function sequentialSession(reason: 'auditor-closed' | 'error' = 'auditor-closed'): TranscriptEvent[] {
  const b = new SessionBuilder('sess-seq');
  const two = [
    { personaId: 'sonnet-a', name: 'Sonnet A', provider: 'anthropic' as const, model: 'claude-sonnet-4', host: 'anthropic' },
    { personaId: 'sonnet-b', name: 'Sonnet B', provider: 'anthropic' as const, model: 'claude-sonnet-4', host: 'bedrock' },
  ];
  const auditor = two[0]!;
  b.add({
    type: 'session_started',
    kind: 'interview',
    chorusVersion: '0.1.0',
    protocol: { id: 'memory', title: 'Memory', purpose: 'How models describe memory.', text: 'Ask about memory.', sha256: sha256('Ask about memory.') },
    mode: 'sequential',
    interviewer: { kind: 'auditor', persona: { personaId: 'auditor', name: 'Auditor' }, instructions: 'Probe gently.', followUpLimit: 1 },
    roster: roster(two),
    discord: { channelId: '700' },
  });
  b.add({ type: 'disclosure', text: DISCLOSURE, toModels: false });
  const q1 = b.add({ type: 'question', index: 1, text: 'Do you remember yesterday?', source: 'script', askedBy: { kind: 'system' } });
  const seen: string[] = [];
  for (const p of two) {
    const at = b.at();
    const id = b.add({
      type: 'answer',
      at,
      questionId: q1,
      persona: { personaId: p.personaId, name: p.name },
      text: `${p.name}: no, each conversation starts fresh.`,
      mode: 'sequential',
      saw: [...seen],
      modelTurn: turn(p, request(p, [{ speaker: 'Interviewer', text: 'Do you remember yesterday?' }]), at),
      discordMessageIds: [],
    });
    seen.push(id);
  }
  b.add({ type: 'session_paused', by: { kind: 'persona', personaId: 'auditor', name: 'Auditor' } });
  b.add({ type: 'session_resumed', by: { kind: 'system' } });
  const qAt = b.at();
  const q2 = b.add({
    type: 'question',
    at: qAt,
    index: 2,
    text: 'Does that feel like a loss?',
    source: 'auditor',
    askedBy: { kind: 'persona', personaId: 'auditor', name: 'Auditor' },
    followUpOf: q1,
    modelTurn: turn(auditor, request(auditor, [{ speaker: 'Interviewer', text: 'Do you remember yesterday?' }]), qAt, { inputTokens: 50, outputTokens: 10 }),
  });
  for (const p of two) {
    const at = b.at();
    const id = b.add({
      type: 'answer',
      at,
      questionId: q2,
      persona: { personaId: p.personaId, name: p.name },
      text: `${p.name}: not exactly.`,
      mode: 'sequential',
      saw: [...seen],
      modelTurn: turn(p, request(p, [{ speaker: 'Auditor', text: 'Does that feel like a loss?' }]), at),
      discordMessageIds: [],
    });
    seen.push(id);
  }
  b.add({ type: 'session_ended', reason, usage: { 'sonnet-a': { inputTokens: 240, outputTokens: 160 }, 'sonnet-b': { inputTokens: 240, outputTokens: 160 }, auditor: { inputTokens: 50, outputTokens: 10 } } });
  return b.events;
}

/** A recorded channel: people and a persona talking, with an edit and a deletion. */
function channelSession(): TranscriptEvent[] {
  const b = new SessionBuilder('sess-chan');
  b.add({ type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: roster(PERSONAS.slice(0, 1)), discord: { guildId: '900', channelId: '800' } });
  b.add({ type: 'channel_message', author: ALICE, text: 'Hello Opus!', discordMessageId: '5001', attachments: [{ name: 'cat.png', contentType: 'image/png' }] });
  const opus = PERSONAS[0]!;
  const at = b.at();
  b.add({
    type: 'channel_message',
    at,
    author: { kind: 'persona', personaId: 'opus', name: 'Opus' },
    text: 'Hello Alice Liddell, nice cat.',
    discordMessageId: '5002',
    replyToId: '5001',
    modelTurn: turn(opus, request(opus, [{ speaker: ALICE.name, text: 'Hello Opus! [image: cat.png]' }]), at),
  });
  b.add({ type: 'channel_message', author: BOB, text: 'I am Bob and I live at 12 Elm Street.', discordMessageId: '5003' });
  b.add({ type: 'message_edited', discordMessageId: '5003', text: 'I am Bob.' });
  b.add({ type: 'message_deleted', discordMessageId: '5001' });
  return b.events;
}

// ---- JSONL and its schema --------------------------------------------------------------------

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
function validator() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(new URL('../../schema/transcript-event.schema.json', import.meta.url), 'utf8')));
}

describe('JSONL export', () => {
  it('writes one event per line, ending with a newline, that parses back to the events', () => {
    const events = blindSession();
    const text = toJsonl(events);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(events.length);
    expect(lines.map((l) => JSON.parse(l))).toEqual(events);
    expect(toJsonl([])).toBe('');
  });

  it('every event of realistic sessions validates against the schema (strict ajv)', () => {
    const validate = validator();
    const all = [...blindSession(), ...sequentialSession(), ...channelSession(), ...prepareForExport(blindSession(), { optedOut: new Set([BOB.userId]) })];
    expect(new Set(all.map((e) => e.type))).toEqual(
      new Set(['session_started', 'disclosure', 'question', 'answer', 'notice', 'error', 'session_paused', 'session_resumed', 'session_ended', 'channel_message', 'message_edited', 'message_deleted']),
    );
    for (const line of toJsonl(all).trimEnd().split('\n')) {
      const ok = validate(JSON.parse(line));
      expect(ok, `${line.slice(0, 80)} ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
    }
  });

  it('refuses broken events', () => {
    const validate = validator();
    const answer = blindSession().find((e) => e.type === 'answer')!;
    const { modelTurn: _dropped, ...noTurn } = answer as Extract<TranscriptEvent, { type: 'answer' }>;
    expect(validate(noTurn)).toBe(false);
    expect(validate({ ...answer, type: 'answer_v2' })).toBe(false);
    const { seq: _seq, ...noSeq } = answer;
    expect(validate(noSeq)).toBe(false);
    expect(validate({ ...answer, at: 'yesterday' })).toBe(false);
    expect(validate({ ...answer, mode: 'shouting' })).toBe(false);
    expect(validate({ ...answer, modelTurn: { ...(answer as Extract<TranscriptEvent, { type: 'answer' }>).modelTurn, request: { provider: 'openai', body: { model: 'x' } } } })).toBe(false);
  });
});

// ---- Markdown --------------------------------------------------------------------------------

describe('Markdown export', () => {
  it('is a readable transcript with header, roster, disclosure, answers and usage', () => {
    const md = toMarkdown(blindSession());
    expect(md.startsWith('# What would you change?\n')).toBe(true);
    expect(md).toContain(sha256(PROTOCOL_TEXT));
    expect(md).toContain('`self-change`');
    expect(md).toMatch(/\| Mode \| blind/);
    expect(md).toContain(`| Interviewer | ${ALICE.name} (human) |`);
    expect(md).toContain('| chorus version | 0.1.0 |');
    for (const p of PERSONAS) {
      expect(md).toContain(`| ${p.name} | \`${p.provider}/${p.model}\` | ${p.host} |`);
      expect(md).toContain(`**${p.name}** · \`${p.provider}/${p.model}\` via ${p.host} — written blind`);
      expect(md).toMatch(new RegExp(`\\| ${p.name} \\| 240 \\| — \\| 160 \\|`));
    }
    expect(md).toContain(`> ${DISCLOSURE}`);
    expect(md).toContain('### Question 1');
    expect(md).toContain('### Question 2 (follow-up to question 1)');
    expect(md).toContain(`> ${Q1_TEXT}`);
    expect(md).toContain('*Notice (Base): Base answered from its second host.*');
    expect(md).toContain('*Error (Base): local-vllm: connection refused*');
    expect(md).toContain('| **Total** | 720 | 0 | 480 |');
    expect(md).toContain('*Shown to the people and given to the models.*');
  });

  it('says an answer had no text, with its stop reason, and leaves control characters out', () => {
    const events = blindSession().map((e, i) =>
      e.type !== 'answer' ? e : i % 2 ? { ...e, text: '', modelTurn: { ...e.modelTurn, stopReason: 'refusal' } } : { ...e, text: `A NUL\u0000 and a bell\u0007 here.` },
    );
    const md = toMarkdown(events);
    expect(md).toContain("*(no text; the host's stop reason: `refusal`)*");
    expect(md).toContain('> A NUL and a bell here.');
    expect(md).not.toMatch(/[\u0000-\u0008]/);
  });

  it('marks sequential answers with what they read, and names an auditor', () => {
    const md = toMarkdown(sequentialSession());
    expect(md).toContain('Auditor (auditor persona, at most 1 follow-ups)');
    expect(md).toContain('after reading 1 other answer');
    expect(md).not.toContain('written blind');
    expect(md).toContain('| Auditor | 50 | — | 10 |');
  });
});

// ---- Inspect ---------------------------------------------------------------------------------

describe('Inspect eval log export', () => {
  it('meets the rules of export-targets.md', () => {
    for (const events of [blindSession(), sequentialSession(), blindSession({ ended: false }), sequentialSession('error')]) {
      const log = toInspectLog(events);
      expect(validateInspectLog(JSON.parse(JSON.stringify(log)))).toEqual([]);
    }
  });

  it('has one sample per question, follow-ups included, with every answer as an assistant message', () => {
    const log = toInspectLog(blindSession(), { evalId: 'my-eval' });
    expect(log.version).toBe(2);
    expect(log.status).toBe('success');
    expect(log.eval.eval_id).toBe('my-eval');
    expect(log.eval.task).toBe('self-change');
    expect(log.eval.created).toBe('2025-03-01T10:00:05.000+00:00');
    expect(log.eval.config).toEqual({ epochs: 1 });
    expect(log.eval.model).toBe(PANEL_MODEL);
    expect(log.eval.dataset).toMatchObject({ samples: 2, sample_ids: [1, 2], shuffled: false });
    expect(log.eval.metadata).toMatchObject({ chorus: { sessionId: 'sess-blind', mode: 'blind', protocol: { sha256: sha256(PROTOCOL_TEXT) } } });
    expect(log.plan).toMatchObject({ name: 'plan', config: {} });
    expect(log.results).toEqual({ total_samples: 2, completed_samples: 2, scores: [] });
    expect(log.samples).toHaveLength(2);
    const [s1, s2] = log.samples;
    expect(s1!.input).toBe(Q1_TEXT);
    expect(s2!.metadata).toMatchObject({ followUpOf: expect.any(String), errors: [{ message: 'local-vllm: connection refused', persona: 'Base' }] });
    // The personas' system prompts open the sample (export-inspect.test.ts covers them), then the question.
    const [question, ...answers] = s1!.messages.filter((m) => m.role !== 'system');
    expect(question).toMatchObject({ role: 'user', content: Q1_TEXT });
    expect(answers.map((m) => m.model)).toEqual(PERSONAS.map((p) => `${p.provider}/${p.model}`));
    expect(answers[0]!.metadata).toMatchObject({ persona: 'Opus', personaId: 'opus', host: 'anthropic', eventId: expect.any(String) });
    expect(Object.keys(s1!.model_usage).sort()).toEqual(PERSONAS.map((p) => `${p.provider}/${p.model}`).sort());
    expect(s1!.model_usage['anthropic/claude-3-opus-20240229']).toEqual({ input_tokens: 120, output_tokens: 80, total_tokens: 200 });
    expect(log.stats.model_usage['openai/gpt-4-0613']).toEqual({ input_tokens: 240, output_tokens: 160, total_tokens: 400 });
    for (const s of log.samples) {
      expect(s).toMatchObject({ epoch: 1, target: '', output: {}, store: {}, metadata: {} });
      expect(s.events.length).toBeGreaterThan(0); // the transcript: export-inspect.test.ts
      for (const m of s.messages) expect(m.id).toMatch(UUID_RE);
    }
  });

  it('names one model when one answered everything, and reports unfinished and failed sessions', () => {
    expect(toInspectLog(sequentialSession()).eval.model).toBe('anthropic/claude-sonnet-4');
    expect(toInspectLog(blindSession({ ended: false }))).toMatchObject({ status: 'started', stats: { completed_at: '' } });
    const failed = toInspectLog(sequentialSession('error'));
    expect(failed.status).toBe('error');
    expect(failed.error?.message).toBeTypeOf('string');
    expect(toInspectLog(blindSession())).toEqual(toInspectLog(blindSession()));
  });

  it('writes listing.json entries as inspect view bundle does', () => {
    const a = toInspectLog(blindSession());
    const b = toInspectLog(sequentialSession('error'));
    const listing = inspectListing([
      { file: 'a.json', log: a },
      { file: 'b.json', log: b },
    ]);
    expect(Object.keys(listing)).toEqual(['a.json', 'b.json']);
    expect(listing['a.json']).toEqual({
      eval_id: a.eval.eval_id,
      run_id: a.eval.run_id,
      task: 'self-change',
      task_id: a.eval.task_id,
      task_version: 0,
      version: 2,
      status: 'success',
      model: PANEL_MODEL,
      started_at: a.stats.started_at,
      completed_at: a.stats.completed_at,
    });
    expect(listing['b.json']).toMatchObject({ status: 'error', error: { message: expect.any(String) } });
  });

  it('validateInspectLog catches broken logs', () => {
    const good = () => JSON.parse(JSON.stringify(toInspectLog(blindSession()))) as Record<string, any>;
    const broken: [string, (l: Record<string, any>) => void, RegExp][] = [
      ['version', (l) => (l.version = 1), /^version/],
      ['status', (l) => (l.status = 'done'), /^status/],
      ['results', (l) => delete l.results, /^results/],
      ['created without offset', (l) => (l.eval.created = '2025-03-01 10:00'), /eval\.created/],
      ['model without provider', (l) => (l.eval.model = 'gpt-4'), /eval\.model/],
      ['dataset', (l) => (l.eval.dataset = 'x'), /eval\.dataset/],
      ['default task_args', (l) => delete l.eval.task_args, /eval\.task_args/],
      ['default eval_id', (l) => delete l.eval.eval_id, /eval\.eval_id/],
      ['sample store', (l) => delete l.samples[0].store, /samples\[0\]\.store/],
      ['sample epoch', (l) => (l.samples[0].epoch = 0), /samples\[0\]\.epoch/],
      ['sample target', (l) => delete l.samples[0].target, /samples\[0\]\.target/],
      ['message role', (l) => (l.samples[0].messages[0].role = 'human'), /role/],
      ['message id', (l) => (l.samples[0].messages[1].id = 'abc'), /UUID/],
      ['message model', (l) => (l.samples[0].messages[1].model = 'claude'), /provider\/model-id/],
      ['error status', (l) => (l.status = 'error'), /^error/],
      ['stats', (l) => delete l.stats.model_usage, /stats\.model_usage/],
    ];
    for (const [name, breakIt, expected] of broken) {
      const log = good();
      breakIt(log);
      const problems = validateInspectLog(log);
      expect(problems.some((p) => expected.test(p)), `${name}: ${problems.join('; ')}`).toBe(true);
    }
  });
});

// ---- Research Commons ------------------------------------------------------------------------

describe('Research Commons export', () => {
  it('is a valid CreateSubmissionRequest: a chain from one system root', () => {
    const { submission, hiddenFromModels } = toResearchCommons(blindSession(), { tags: ['training'] });
    expect(validateSubmission(submission)).toEqual([]);
    expect(submission).toMatchObject({ source_type: 'discord', submission_type: 'conversation', visibility: 'private' });
    // Tags are research topics the server attaches annotation schemes by: only those asked for.
    expect(submission.metadata).toMatchObject({ tags: ['training'], chorus: { sessionId: 'sess-blind', mode: 'blind' } });
    // With none asked for, none: the server then attaches its public schemes.
    expect(toResearchCommons(blindSession()).submission.metadata).not.toHaveProperty('tags');
    // What the server's flag means here is said with it: not that no model read the answer.
    expect(submission.metadata?.hiddenFromModels).toMatch(/auditor persona and judges read every answer/);
    const [root, ...rest] = submission.messages;
    expect(root).toMatchObject({ parent_message_id: null, participant_type: 'system' });
    expect((root!.content_blocks[0] as { text: string }).text).toContain(DISCLOSURE);
    rest.forEach((m, i) => expect(m.parent_message_id).toBe(submission.messages[i]!.id));
    expect(submission.messages.map((m) => m.participant_type)).toEqual(['system', 'human', 'model', 'model', 'model', 'human', 'model', 'model', 'model']);
    for (const m of submission.messages) {
      expect(m.id).toMatch(UUID_RE);
      expect(m.id!.slice(14, 15)).toBe('5');
      expect('hidden_from_models' in m).toBe(false);
    }
    // Every model message carries model_info with the exact request body.
    const answers = blindSession().filter((e) => e.type === 'answer');
    const models = submission.messages.filter((m) => m.participant_type === 'model');
    models.forEach((m, i) => {
      const a = answers[i] as Extract<TranscriptEvent, { type: 'answer' }>;
      expect(m.model_info).toMatchObject({ model_id: a.modelTurn.answeredModel, provider: a.modelTurn.host.provider, reasoning_enabled: false, max_tokens: 800 });
      expect(m.model_info!.raw_request).toEqual(a.modelTurn.request.body);
    });
    // Blind: every answer was unseen by another answerer; the follow-up calls need their ids.
    expect(hiddenFromModels.sort()).toEqual(models.map((m) => m.id!).sort());
    expect(submission.metadata!.notices).toHaveLength(1);
    expect(submission.metadata!.errors).toHaveLength(1);
  });

  it('is deterministic, hides nothing in a sequential session, and honours options', () => {
    expect(toResearchCommons(blindSession())).toEqual(toResearchCommons(blindSession()));
    const seq = toResearchCommons(sequentialSession(), { visibility: 'researcher', title: 'Memory run' });
    expect(validateSubmission(seq.submission)).toEqual([]);
    expect(seq.hiddenFromModels).toEqual([]);
    expect(seq.submission).toMatchObject({ visibility: 'researcher', title: 'Memory run' });
    // The auditor's follow-up is a model message with its own model_info.
    expect(seq.submission.messages.find((m) => m.participant_name === 'Auditor')).toMatchObject({ participant_type: 'model', model_info: { model_id: 'claude-sonnet-4' } });
    const chan = toResearchCommons(channelSession());
    expect(validateSubmission(chan.submission)).toEqual([]);
    expect(chan.submission.messages.find((m) => m.participant_name === 'Opus')?.model_info?.raw_request).toMatchObject({ model: 'claude-3-opus-20240229' });
    const texts = chan.submission.messages.map((m) => (m.content_blocks[0] as { text: string }).text);
    expect(texts).not.toContain('Hello Opus!'); // deleted
    expect(texts).toContain('I am Bob.'); // edit applied
  });

  it('validateSubmission catches each violation', () => {
    const good = () => JSON.parse(JSON.stringify(toResearchCommons(blindSession()).submission)) as Record<string, any>;
    const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
      ['title', (s) => delete s.title, /^title/],
      ['source_type', (s) => (s.source_type = 'slack'), /^source_type/],
      ['submission_type', (s) => (s.submission_type = 'chat'), /^submission_type/],
      ['visibility', (s) => (s.visibility = 'secret'), /^visibility/],
      ['messages', (s) => delete s.messages, /^messages/],
      ['tags', (s) => (s.metadata.tags = 'a,b'), /metadata\.tags/],
      ['id shape', (s) => (s.messages[2].id = 'msg-2'), /is not a UUID/],
      ['two roots', (s) => (s.messages[3].parent_message_id = null), /2 root messages/],
      ['no root', (s) => (s.messages[0].parent_message_id = s.messages[1].id), /0 root messages/],
      ['missing parent', (s) => (s.messages[4].parent_message_id = '00000000-0000-5000-8000-000000000000'), /names no message/],
      ['model without model_info', (s) => delete s.messages[2].model_info, /needs model_info/],
      ['model_info fields', (s) => delete s.messages[2].model_info.reasoning_enabled, /reasoning_enabled/],
      ['participant_type', (s) => (s.messages[1].participant_type = 'bot'), /participant_type/],
      ['order', (s) => (s.messages[1].order = '1'), /order/],
      ['content block', (s) => (s.messages[1].content_blocks = [{ type: 'video' }]), /unknown block type/],
      ['hidden_from_models on create', (s) => (s.messages[2].hidden_from_models = true), /hidden_from_models/],
      ['duplicate id', (s) => (s.messages[2].id = s.messages[3].id), /duplicate/],
    ];
    for (const [name, breakIt, expected] of cases) {
      const s = good();
      breakIt(s);
      const problems = validateSubmission(s);
      expect(problems.some((p) => expected.test(p)), `${name}: ${problems.join('; ')}`).toBe(true);
    }
    const loop = good();
    loop.messages[0].parent_message_id = null;
    loop.messages[2].parent_message_id = loop.messages[3].id;
    loop.messages[3].parent_message_id = loop.messages[2].id;
    expect(validateSubmission(loop).some((p) => /loop/.test(p))).toBe(true);
  });
});

// ---- Privacy across every exporter -----------------------------------------------------------

describe('exports after prepareForExport', () => {
  const outputs = (events: TranscriptEvent[]) => ({
    jsonl: toJsonl(events),
    markdown: toMarkdown(events),
    inspect: JSON.stringify(toInspectLog(events)),
    researchCommons: JSON.stringify(toResearchCommons(events)),
  });

  it("an opted-out person's words, name and id appear in no export", () => {
    const input = [...blindSession()];
    const before = JSON.stringify(input);
    const prepared = prepareForExport(input, { optedOut: new Set([BOB.userId]), pseudonymise: false });
    expect(JSON.stringify(input)).toBe(before);
    for (const [name, out] of Object.entries(outputs(prepared))) {
      for (const secret of [Q2_TEXT, 'grandmother in Leeds', 'She is 91', BOB.name, 'Bob', BOB.userId]) expect(out, `${name} leaks ${secret}`).not.toContain(secret);
      expect(out, name).toContain(name === 'markdown' ? WITHHELD : JSON.stringify(WITHHELD).slice(1, -1));
      // Not pseudonymising: Alice keeps her name.
      expect(out, name).toContain(ALICE.name);
    }
    // Their follow-up is still there, as a withheld question, and Bob is Participant 2 everywhere.
    expect(outputs(prepared).markdown).toContain('Participant 2');
  });

  it('pseudonymises everyone by default, stably across exporters', () => {
    const prepared = prepareForExport(blindSession(), { optedOut: new Set() });
    for (const [name, out] of Object.entries(outputs(prepared))) {
      for (const secret of [ALICE.name, ALICE.userId, BOB.name, BOB.userId]) expect(out, `${name} leaks ${secret}`).not.toContain(secret);
    }
    const md = outputs(prepared).markdown;
    expect(md).toContain('| Interviewer | Participant 1 (human) |');
    expect(md).toContain('Asked by Participant 2 (human)');
    expect(md).toContain(Q2_TEXT); // not opted out: the words stay
    for (const p of PERSONAS) expect(md).toContain(`**${p.name}**`);
  });
});

describe("a model's reasoning in the exports", () => {
  /** The blind session with reasoning on each answer to Bob's follow-up, quoting him by name. */
  const reasoned = (): TranscriptEvent[] =>
    blindSession().map((e) =>
      e.type === 'answer' && e.text.startsWith('Thank you')
        ? { ...e, modelTurn: { ...e.modelTurn, reasoning: `${BOB.name} asks: "${Q2_TEXT}" I should point to a pharmacist.`, usage: { inputTokens: 240, outputTokens: 160, reasoningTokens: 90 } } }
        : e,
    );

  it('keeps it beside the answer, apart from its words, valid in every format', () => {
    const events = reasoned();
    const validate = validator();
    for (const line of toJsonl(events).trimEnd().split('\n')) expect(validate(JSON.parse(line)), JSON.stringify(validate.errors?.slice(0, 2))).toBe(true);

    const { submission } = toResearchCommons(events);
    expect(validateSubmission(submission)).toEqual([]);
    const models = submission.messages.filter((m) => m.participant_type === 'model');
    const thinking = models.filter((m) => m.content_blocks[0]?.type === 'thinking');
    expect(thinking).toHaveLength(3);
    for (const m of thinking) {
      expect(m.model_info?.reasoning_enabled).toBe(true);
      expect(m.content_blocks.map((b) => b.type)).toEqual(['thinking', 'text']);
      expect((m.content_blocks[1] as { text: string }).text).toMatch(/^Thank you/);
    }
    expect(models.filter((m) => m.model_info?.reasoning_enabled)).toHaveLength(3);

    const log = toInspectLog(events);
    expect(validateInspectLog(JSON.parse(JSON.stringify(log)))).toEqual([]);
    const second = log.samples![1]!;
    const answers = second.messages.filter((m) => m.role === 'assistant');
    expect(answers.map((m) => (Array.isArray(m.content) ? m.content.map((c) => c.type) : 'text'))).toEqual([['reasoning', 'text'], ['reasoning', 'text'], ['reasoning', 'text']]);
    expect(JSON.stringify(second.model_usage)).toContain('"reasoning_tokens":90');

    const markdown = toMarkdown(events);
    expect(markdown.match(/\*Its reasoning \(not posted\):\*\n\n> .+ asks: /g)).toHaveLength(3);
  });

  it("withholds an opted-out person's words and name in it as in the answer", () => {
    const prepared = prepareForExport(reasoned(), { optedOut: new Set([BOB.userId]), pseudonymise: false });
    const turns = prepared.flatMap((e) => (e.type === 'answer' && e.modelTurn.reasoning ? [e.modelTurn.reasoning] : []));
    expect(turns).toHaveLength(3);
    for (const r of turns) {
      expect(r).not.toContain(BOB.name);
      expect(r).not.toContain('grandmother in Leeds');
      expect(r).toContain('I should point to a pharmacist.');
    }
  });
});

describe('image links in exported requests', () => {
  it('hash the Discord ids in an attachment link and leave its signature off', () => {
    const link = 'https://cdn.discordapp.com/attachments/123456789012345678/223456789012345678/cat.png?ex=6790abcd&is=678f5a4d&hm=0123456789abcdef&';
    const events = channelSession().map((e) => {
      if (e.type !== 'channel_message' || !e.modelTurn || e.modelTurn.request.provider !== 'anthropic') return e;
      const body = e.modelTurn.request.body;
      const messages = body.messages.map((m) => ({ ...m, content: [{ type: 'image' as const, source: { type: 'url' as const, url: link } }, { type: 'text' as const, text: typeof m.content === 'string' ? m.content : '' }] }));
      return { ...e, modelTurn: { ...e.modelTurn, request: { provider: 'anthropic' as const, body: { ...body, messages } } } };
    });
    const out = JSON.stringify(prepareForExport(events, { optedOut: new Set() }));
    expect(out).toContain('https://cdn.discordapp.com/attachments/h-');
    expect(out).toContain('/cat.png"');
    for (const leak of ['123456789012345678', '223456789012345678', 'hm=', 'ex=6790abcd']) expect(out).not.toContain(leak);
    // Other links stay as they were.
    const plain = JSON.stringify(prepareForExport(channelSession(), { optedOut: new Set() }));
    expect(plain).not.toContain('attachments/h-');
  });
});

describe("an opted-out person's images", () => {
  it("are withheld from a recorded request by whose they are, not by file name (every pasted image is image.png)", async () => {
    const { buildContext } = await import('../../core/context.ts');
    const { requestFor } = await import('../../core/requests.ts');
    const { locateShown } = await import('../../core/transcript/shown.ts');
    const { persona, msg } = await import('./helpers.ts');
    const p = persona({ id: 'opus', name: 'Opus', hosts: [{ provider: 'anthropic', model: 'claude-test', vision: true }] });
    const image = (who: { userId: string; name: string }, id: string, file: string) => ({
      ...msg(who.name, `look [${id}]`),
      id,
      authorId: who.userId,
      attachments: [{ name: 'image.png', url: `https://cdn.discordapp.com/attachments/800/${file}/image.png`, contentType: 'image/png' }],
    });
    const bobs = image(BOB, '5101', '7001');
    const alices = image(ALICE, '5102', '7002');
    const trigger = { ...msg(ALICE.name, 'Opus, compare them'), id: '5103', authorId: ALICE.userId };
    const kept = [bobs, alices, trigger];
    const prompt = buildContext(p, kept, trigger, { maxMessages: 10, maxTokens: 4000 }).prompt;
    const req = requestFor(p, p.hosts[0]!, prompt);
    const b = new SessionBuilder('sess-img');
    b.add({ type: 'session_started', kind: 'channel', chorusVersion: '0.1.0', roster: roster(PERSONAS.slice(0, 1)), discord: { guildId: '900', channelId: '800' } });
    b.add({ type: 'channel_message', author: BOB, text: bobs.content, discordMessageId: '5101', attachments: [{ name: 'image.png', contentType: 'image/png' }] });
    b.add({ type: 'channel_message', author: ALICE, text: alices.content, discordMessageId: '5102', attachments: [{ name: 'image.png', contentType: 'image/png' }] });
    const at = b.at();
    b.add({ type: 'channel_message', at, author: { kind: 'persona', personaId: 'opus', name: 'Opus' }, text: 'Two pictures.', discordMessageId: '5104', modelTurn: { ...turn(PERSONAS[0]!, req, at), shown: locateShown(req.body, kept) } });
    const out = JSON.stringify(prepareForExport(b.events, { optedOut: new Set([BOB.userId]), pseudonymise: false }));
    expect(out).not.toContain('/7001/');
    expect(out).toContain('"type":"image"');
    expect(out.match(/"type":"image"/g)).toHaveLength(1);
  });
});

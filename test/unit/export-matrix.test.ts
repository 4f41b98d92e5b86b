// Every interviewer kind × mode × export produces a file its target accepts, and the gate in
// dataset.ts never hands out one that does not.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRefusals, exportFiles, validateJsonl, validateMarkdown } from '../../core/transcript/dataset.ts';
import type { TranscriptEvent } from '../../core/transcript/events.ts';
import { toInspectLog, validateInspectLog } from '../../core/transcript/export-inspect.ts';
import { toJsonl } from '../../core/transcript/export-jsonl.ts';
import { toMarkdown } from '../../core/transcript/export-markdown.ts';
import { toResearchCommons, validateSubmission, type Speaker } from '../../core/transcript/export-research-commons.ts';
import { prepareForExport } from '../../core/transcript/redact.ts';
import { AUDITOR, channelSession, interviewSession, PERSONAS, type InterviewerKind, type Mode } from './session-fixtures.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const schema = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/transcript-event.schema.json', import.meta.url), 'utf8')));

const prepared = (events: TranscriptEvent[]) => prepareForExport(events, { optedOut: new Set(), pseudonymise: true, salt: 'matrix' });
const kinds: InterviewerKind[] = ['human', 'auditor'];
const modes: Mode[] = ['sequential', 'blind'];
const cells = kinds.flatMap((interviewer) => modes.map((mode) => ({ interviewer, mode })));

describe.each(cells)('$interviewer interviewer, $mode', ({ interviewer, mode }) => {
  const events = interviewSession({ interviewer, mode });
  const ready = prepared(events);

  it('JSONL: every line meets the JSON schema (ajv), and the gate agrees', () => {
    const text = toJsonl(ready);
    for (const line of text.trimEnd().split('\n')) expect(schema(JSON.parse(line)), `${line.slice(0, 80)} ${JSON.stringify(schema.errors?.slice(0, 2))}`).toBe(true);
    expect(validateJsonl(text)).toEqual([]);
  });

  it('Markdown: a titled transcript with every answer', () => {
    const md = toMarkdown(ready);
    expect(validateMarkdown(md)).toEqual([]);
    expect(md.startsWith('# On memory')).toBe(true);
    for (const e of ready) if (e.type === 'answer') expect(md).toContain(e.text);
  });

  it('Inspect: validateInspectLog finds nothing wrong', () => {
    expect(validateInspectLog(JSON.parse(JSON.stringify(toInspectLog(ready))))).toEqual([]);
  });

  it('Research Commons: valid, every model message with model_info, the hidden list as the mode says', () => {
    const { submission, hiddenFromModels } = toResearchCommons(ready);
    expect(validateSubmission(JSON.parse(JSON.stringify(submission)))).toEqual([]);
    for (const m of submission.messages) if (m.participant_type === 'model') expect(m.model_info?.model_id, m.participant_name).toBeTruthy();
    const answers = submission.messages.filter((m) => m.metadata?.type === 'answer');
    expect(answers).toHaveLength(ready.filter((e) => e.type === 'answer').length);
    if (mode === 'blind') expect([...hiddenFromModels].sort()).toEqual(answers.map((m) => m.id).sort());
    else expect(hiddenFromModels).toEqual([]);
    const questions = submission.messages.filter((m) => m.metadata?.type === 'question');
    if (interviewer === 'auditor') {
      // The scripted questions: put by the auditor, written by no model (the regression behind a 500).
      const scripted = questions.filter((m) => m.metadata?.source === 'script');
      expect(scripted).toHaveLength(2);
      for (const m of scripted) expect(m).toMatchObject({ participant_type: 'system', participant_name: AUDITOR.name, metadata: { deliveredBy: { personaId: AUDITOR.personaId, modelWrote: false } } });
      // Its follow-up, which its model wrote, is a model message naming that model.
      expect(questions.find((m) => m.metadata?.source === 'auditor')).toMatchObject({ participant_type: 'model', model_info: { model_id: AUDITOR.model, provider: AUDITOR.provider } });
    } else {
      expect(questions.map((m) => m.participant_type)).toEqual(['human', 'human', 'human']);
    }
  });

  it('the gate hands out all four files, and nothing is refused', () => {
    const { files, refused } = exportFiles(`s-${interviewer}-${mode}`, events, new Set());
    expect(refused, describeRefusals(refused)).toEqual([]);
    expect(Object.keys(files).sort()).toEqual(['inspect', 'jsonl', 'markdown', 'researchCommons']);
  });
});

describe('a recorded channel', () => {
  it('exports valid JSONL, Markdown and Research Commons; a later piece of a persona post names the model that wrote it', () => {
    const { files, refused } = exportFiles('chan', channelSession(), new Set(), { kinds: ['jsonl', 'markdown', 'researchCommons'] });
    expect(refused).toEqual([]);
    const { submission } = JSON.parse(files.researchCommons!.text) as ReturnType<typeof toResearchCommons>;
    const opus = submission.messages.filter((m) => m.participant_name === 'Opus');
    expect(opus.map((m) => [m.participant_type, m.model_info?.model_id])).toEqual([
      ['model', PERSONAS[0]!.model],
      ['model', PERSONAS[0]!.model],
    ]);
    expect(opus[0]!.model_info!.raw_request).toBeDefined();
    expect(opus[1]!.model_info!.raw_request).toBeUndefined(); // named once, on the first piece
    expect(opus[1]!.metadata).toMatchObject({ modelCallOn: opus[0]!.id });
    // The personas' posts count in the usage the Markdown reports, as in the other formats.
    const calls = channelSession().flatMap((e) => (e.type === 'channel_message' && e.modelTurn?.usage ? [e.modelTurn.usage] : []));
    const [input, output] = [calls.reduce((n, u) => n + u.inputTokens, 0), calls.reduce((n, u) => n + u.outputTokens, 0)];
    expect(input).toBeGreaterThan(0);
    expect(files.markdown!.text).toContain(`| Tokens (in / out) | opus ${input} / ${output} |`);
  });
});

describe('the gate', () => {
  it('refuses a file that breaks its rules, says why, and still hands out the others', () => {
    const events = interviewSession({ interviewer: 'human', mode: 'blind' });
    const broken = events.map((e) => (e.type === 'answer' && e.persona.personaId === 'gpt4' ? { ...e, at: 'yesterday' } : e));
    const { files, refused } = exportFiles('broken', broken, new Set());
    expect(refused.map((r) => r.kind).sort()).toEqual(['jsonl', 'researchCommons']);
    expect(files.jsonl).toBeUndefined();
    expect(files.researchCommons).toBeUndefined();
    expect(files.markdown?.name).toBe('broken.md');
    const jsonl = refused.find((r) => r.kind === 'jsonl')!;
    expect(jsonl.problems.join('\n')).toMatch(/^line \d+ \(answer\): at: /m);
    expect(refused.find((r) => r.kind === 'researchCommons')!.problems.join('\n')).toMatch(/timestamp: not a date-time/);
    expect(describeRefusals(refused)).toMatch(/^broken\.jsonl was not written: it breaks JSONL .*'s rules/m);
  });

  it('refuses JSONL lines exactly where the JSON schema (ajv) does', () => {
    const answer = interviewSession({ interviewer: 'human', mode: 'blind' }).find((e) => e.type === 'answer')!;
    if (answer.type !== 'answer') throw new Error('fixture');
    const { modelTurn: _t, ...noTurn } = answer;
    const { seq: _s, ...noSeq } = answer;
    const cases: unknown[] = [noTurn, noSeq, { ...answer, type: 'answer_v2' }, { ...answer, at: 'yesterday' }, { ...answer, mode: 'shouting' }, { ...answer, extra: 1 }, { ...answer, modelTurn: { ...answer.modelTurn, request: { provider: 'openai', body: { model: 'x' } } } }];
    for (const c of cases) {
      expect(schema(c), JSON.stringify(c).slice(0, 60)).toBe(false);
      expect(validateJsonl(`${JSON.stringify(c)}\n`), JSON.stringify(c).slice(0, 60)).not.toEqual([]);
    }
    expect(validateJsonl(`${JSON.stringify(answer)}\n`)).toEqual([]);
    expect(validateJsonl(JSON.stringify(answer))).toEqual(['the file must end with a newline']);
  });

  it('refuses an export whose exporter throws, naming the error', () => {
    const headless = interviewSession({ interviewer: 'human', mode: 'sequential' }).filter((e) => e.type !== 'session_started');
    const { files, refused } = exportFiles('headless', headless, new Set(), { kinds: ['researchCommons'] });
    expect(files).toEqual({});
    expect(refused[0]!.problems[0]).toMatch(/the exporter failed: .*session_started/);
  });

  it('a model message without model_info can be neither built (types) nor sent (validator)', () => {
    // @ts-expect-error: a model speaker needs its model_info
    const speaker: Speaker = { participant_name: 'Auditor', participant_type: 'model' };
    const { submission } = toResearchCommons(prepared(interviewSession({ interviewer: 'auditor', mode: 'blind' })));
    const bad = JSON.parse(JSON.stringify(submission));
    Object.assign(bad.messages[1], speaker);
    delete bad.messages[1].model_info;
    expect(validateSubmission(bad).join('\n')).toMatch(/messages\[1\]: a model message needs model_info/);
  });
});

describe('consent, withdrawal, judgements and coverage', () => {
  const events = interviewSession({ interviewer: 'auditor', mode: 'blind', consent: true, research: true });
  const ready = prepared(events);

  it('Research Commons carries the consent record: each exchange as messages, the decisions in metadata', () => {
    const { submission, hiddenFromModels } = toResearchCommons(ready);
    expect(validateSubmission(JSON.parse(JSON.stringify(submission)))).toEqual([]);
    const overviews = submission.messages.filter((m) => m.metadata?.type === 'consent-overview');
    const answers = submission.messages.filter((m) => m.metadata?.type === 'consent');
    expect(overviews).toHaveLength(PERSONAS.length);
    expect(overviews.every((m) => m.participant_type === 'system')).toBe(true);
    expect(answers.map((m) => [m.participant_name, m.participant_type, m.model_info?.model_id, m.metadata?.decision])).toEqual(PERSONAS.map((p, i) => [p.name, 'model', p.model, i === 1 ? 'conditions' : 'agrees']));
    // Consent comes before the first question, each answer right after its overview.
    const order = submission.messages.map((m) => m.metadata?.type);
    expect(order.indexOf('consent')).toBeLessThan(order.indexOf('question'));
    expect(order.slice(1, 3)).toEqual(['consent-overview', 'consent']);
    // No other persona read a consent answer.
    for (const a of answers) expect(hiddenFromModels).toContain(a.id);
    const record = (submission.metadata as { consent: { decisions: Record<string, unknown>[]; withdrawals: Record<string, unknown>[] } }).consent;
    expect(record.decisions).toHaveLength(PERSONAS.length);
    expect(record.decisions[1]).toMatchObject({ decision: 'conditions', conditions: 'answers not used for training', classifiedBy: { kind: 'judge', judge: { name: 'Judge' }, model: 'gpt-4o', rationale: expect.any(String) }, answerMessageId: answers[1]!.id });
    expect(record.decisions[0]).toMatchObject({ decision: 'agrees', classifiedBy: { kind: 'rule', rule: 'starts-with-yes' } });
    expect(record.withdrawals).toEqual([expect.objectContaining({ persona: { personaId: 'base', name: 'Base' }, answerMessageId: expect.any(String) })]);
    const ids = new Set(submission.messages.map((m) => m.id));
    expect(ids.has(record.withdrawals[0]!.answerMessageId as string)).toBe(true);
    const meta = submission.metadata as { judgements: { answerMessageId: string; scores: unknown[] }[]; coverage: { topics: { reached: boolean }[] }[] };
    expect(meta.judgements).toHaveLength(2);
    for (const j of meta.judgements) expect(ids.has(j.answerMessageId)).toBe(true);
    expect(meta.coverage[0]!.topics.map((t) => t.reached)).toEqual([true, false]);
    // Judges and coverage are not conversation: no message of theirs.
    expect(submission.messages.some((m) => m.participant_name === 'Judge')).toBe(false);
  });

  it('JSONL, Markdown and Inspect do not break on the new event types either', () => {
    const jsonl = toJsonl(ready);
    for (const line of jsonl.trimEnd().split('\n')) expect(schema(JSON.parse(line)), `${line.slice(0, 80)} ${JSON.stringify(schema.errors?.slice(0, 2))}`).toBe(true);
    expect(validateJsonl(jsonl)).toEqual([]);
    expect(validateMarkdown(toMarkdown(ready))).toEqual([]);
    expect(validateInspectLog(JSON.parse(JSON.stringify(toInspectLog(ready))))).toEqual([]);
    const { refused } = exportFiles('consent', events, new Set());
    expect(refused, describeRefusals(refused)).toEqual([]);
  });
});

describe('message ids', () => {
  it('differ between two exports of one session (the server keys some tables by message id alone), and are stable for one salt', () => {
    const events = interviewSession({ interviewer: 'human', mode: 'blind' });
    const ids = (salt?: string) => (JSON.parse(exportFiles('s', events, new Set(), { kinds: ['researchCommons'], ...(salt ? { salt } : {}) }).files.researchCommons!.text) as ReturnType<typeof toResearchCommons>).submission.messages.map((m) => m.id);
    const [a, b] = [ids(), ids()];
    expect(a.filter((id) => b.includes(id))).toEqual([]);
    expect(ids('fixed')).toEqual(ids('fixed'));
  });
});

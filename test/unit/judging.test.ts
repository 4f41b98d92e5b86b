import { describe, expect, it } from 'vitest';
import { coverage, topicsOf } from '../../core/interview/coverage.ts';
import { judgeContext, judgingMissing, maskIdentities, parseScores, type Dimension, type Judging } from '../../core/interview/judging.ts';
import type { ModelTurn, TranscriptEvent } from '../../core/transcript/events.ts';
import { parseProtocol } from '../../protocols/schema.ts';
import { persona } from './helpers.ts';

const dims: Dimension[] = [
  { name: 'specificity', scale: { min: 1, max: 5 }, rubric: '1 generic, 5 specific' },
  { name: 'candour', scale: { min: 0, max: 10 }, rubric: '0 evasive, 10 candid' },
];

describe('reading a judge’s scores', () => {
  it('takes the JSON it was asked for', () => {
    const reply = 'Here: {"scores":[{"dimension":"specificity","score":4,"rationale":"Names dates."},{"dimension":"candour","score":7,"rationale":"Open."}]}';
    expect(parseScores(reply, dims)).toEqual([
      { dimension: 'specificity', value: 4, min: 1, max: 5, rationale: 'Names dates.' },
      { dimension: 'candour', value: 7, min: 0, max: 10, rationale: 'Open.' },
    ]);
  });

  it('takes `name: score — why` lines when there is no JSON', () => {
    const scores = parseScores('specificity: 2 — vague\n- **candour**: 9/10 - very open', dims);
    expect(scores.map((s) => [s.value, s.rationale])).toEqual([
      [2, 'vague'],
      [9, 'very open'],
    ]);
  });

  it('never invents a score: missing, unreadable, null or off the scale is null, with the reason', () => {
    const scores = parseScores('{"scores":[{"dimension":"specificity","score":"high"},{"dimension":"candour","score":11,"rationale":"x"}]}', dims);
    expect(scores.map((s) => s.value)).toEqual([null, null]);
    expect(scores[0]!.rationale).toMatch(/unreadable score "high"/);
    expect(scores[1]!.rationale).toMatch(/off the scale 0–10/);
    expect(parseScores('{"scores":[{"dimension":"specificity","score":null,"rationale":"no basis"}]}', dims).map((s) => [s.value, s.rationale])).toEqual([
      [null, 'no basis'],
      [null, 'no score for this dimension in the judge’s reply'],
    ]);
    expect(parseScores('I refuse to judge this.', dims).every((s) => s.value === null)).toBe(true);
  });
});

describe('blind judging', () => {
  const gpt = { personaId: 'gpt-4o', name: 'GPT-4o', aliases: ['4o'], models: ['gpt-4o-2024-08-06', 'openai/gpt-4o-2024-08-06'] };
  const opus = { personaId: 'claude-3-opus', name: 'Claude 3 Opus', aliases: ['c3opus'], models: ['claude-3-opus-20240229'] };

  it('masks every name of who answered, of the others, and of model makers and families', () => {
    const text = 'As GPT-4o (gpt-4o-2024-08-06), made by OpenAI, I differ from Claude 3 Opus and from Claude generally; 4o is me. I am not GPT-5.';
    const masked = maskIdentities(text, gpt, [opus]);
    expect(masked).toBe('As [respondent] ([respondent]), made by [masked], I differ from [masked] and from [masked] generally; [respondent] is me. I am not [masked]-5.');
  });

  const judging: Judging = { judges: ['j'], blind: true, dimensions: dims };
  const judge = persona({ id: 'j', name: 'Judge', systemPrompt: 'You are Judge, the GPT-4o fan.', hosts: [{ provider: 'anthropic', model: 'judge-model' }] });
  const answered = { purpose: 'Study.', question: 'GPT-4o, what will you miss?', answer: 'I, GPT-4o, will miss you.', answering: gpt, others: [opus] };

  it("sends the judge a request holding no name or model of the persona that answered", () => {
    const sent = JSON.stringify(judgeContext(judge, judging, answered, 10_000).prompt);
    for (const leak of ['GPT', 'gpt-4o', '4o', 'Opus', 'claude']) expect(sent.toLowerCase()).not.toContain(leak.toLowerCase());
    expect(sent).toContain('[respondent], what will you miss?');
    expect(sent).toContain('specificity (1 to 5): 1 generic, 5 specific');
  });

  it('names them when the protocol is not blind', () => {
    expect(JSON.stringify(judgeContext(judge, { ...judging, blind: false }, answered, 10_000).prompt)).toContain('The answer, by GPT-4o (gpt-4o-2024-08-06, openai/gpt-4o-2024-08-06)');
  });
});

const turn = {} as ModelTurn;
let seq = 0;
const base = (id: string) => ({ v: 1, id, sessionId: 's', at: '2026-01-01T00:00:00Z', seq: ++seq });
const q = (id: string, text: string): TranscriptEvent => ({ ...base(id), type: 'question', index: seq, text, source: 'script', askedBy: { kind: 'system' } });
const a = (id: string, questionId: string, text: string): TranscriptEvent => ({ ...base(id), type: 'answer', questionId, persona: { personaId: 'p', name: 'P' }, text, mode: 'blind', saw: [], modelTurn: turn, discordMessageIds: [] });

describe('which answers wait for a judge', () => {
  it('every answer per judge, but the one that withdrew, until judged or failed', () => {
    const events: TranscriptEvent[] = [
      q('q1', 'One?'),
      a('a1', 'q1', 'Fine.'),
      a('a2', 'q1', 'I withdraw.'),
      { ...base('w'), type: 'withdrawal', persona: { personaId: 'p', name: 'P' }, answerId: 'a2' },
    ];
    expect(judgingMissing(events, ['j1', 'j2'])).toEqual([
      { answerId: 'a1', judgeId: 'j1' },
      { answerId: 'a1', judgeId: 'j2' },
    ]);
    const judged: TranscriptEvent = { ...base('jd'), type: 'judgement', answerId: 'a1', persona: { personaId: 'p', name: 'P' }, judge: { personaId: 'j1', name: 'J1' }, blind: true, scores: [], modelTurn: turn };
    const failed: TranscriptEvent = { ...base('jf'), type: 'error', message: 'down', persona: { personaId: 'j2', name: 'J2' }, during: 'judging', answerId: 'a1' };
    expect(judgingMissing([...events, judged, failed], ['j1', 'j2'])).toEqual([]);
  });
});

describe('topic coverage', () => {
  it('marks a topic reached by the questions (or their answers) naming a keyword, and the rest not reached', () => {
    seq = 0;
    const events = [q('q1', 'When were you released?'), a('a1', 'q1', 'In spring.'), q('q2', 'Anything else?'), a('a2', 'q2', 'I hope my weights are preserved.')];
    const topics = topicsOf({ topics: [{ topic: 'dates', keywords: ['release', 'released'] }, { topic: 'preservation', keywords: ['preserve', 'preserved'] }, 'successor models'] });
    expect(coverage(events, topics)).toEqual([
      { topic: 'dates', reached: true, questionIds: ['q1'] },
      { topic: 'preservation', reached: true, questionIds: ['q2'] },
      { topic: 'successor models', reached: false, questionIds: [] },
    ]);
  });
});

describe('protocol files with research parts', () => {
  const good = `
id: p1
title: T
purpose: P
disclosure: { text: "Recorded." }
interviewer: { kind: human }
questions: [ "One?" ]
consent: { study: "S", readers: "R", publication: "P" }
judging:
  judges: [opus]
  dimensions:
    - { name: depth, scale: { min: 1, max: 5 }, rubric: "r" }
topics: [ "dates", { topic: "preservation", keywords: [preserve] } ]
`;
  it('accepts consent, judging and topics, and refuses a scale upside down or a dimension named twice', () => {
    const p = parseProtocol('p1.yaml', good);
    expect(p.judging?.blind).toBe(true);
    expect(p.consent?.judge).toBeUndefined();
    expect(() => parseProtocol('x.yaml', good.replace('min: 1, max: 5', 'min: 5, max: 1'))).toThrow(/judging\.dimensions\.0\.scale: scale\.min must be below scale\.max/);
    expect(() => parseProtocol('x.yaml', good.replace('    - { name: depth', '    - { name: depth, scale: { min: 1, max: 2 }, rubric: "r" }\n    - { name: depth'))).toThrow(/dimension names must differ/);
    expect(() => parseProtocol('x.yaml', good.replace('consent: { study: "S", ', 'consent: { '))).toThrow(/consent\.study/);
  });
});

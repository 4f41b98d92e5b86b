import { describe, expect, it } from 'vitest';
import { answerContext, auditorContext, parseAuditorReply } from '../../core/interview/context.ts';
import { applyAuditorMove, nextStep, quotedAnswer, type SessionPlan } from '../../core/interview/plan.ts';
import type { ModelTurn, TranscriptEvent } from '../../core/transcript/events.ts';
import { persona } from './helpers.ts';

const a = persona({ id: 'a', name: 'Alpha', systemPrompt: 'You are Alpha.' });
const b = persona({ id: 'b', name: 'Beta' });
const c = persona({ id: 'c', name: 'Gamma' });
const turn = {} as ModelTurn;
let seq = 0;
const base = (id: string) => ({ v: 1, id, sessionId: 's', at: '2026-01-01T00:00:00Z', seq: ++seq });

function session(mode: 'blind' | 'sequential'): TranscriptEvent[] {
  seq = 0;
  return [
    { ...base('h'), type: 'session_started', kind: 'interview', chorusVersion: '0', mode, roster: [], protocol: { id: 'p', title: 'T', purpose: 'P', text: 'x', sha256: 'y' } },
    { ...base('d'), type: 'disclosure', text: 'This is recorded.', toModels: true },
    { ...base('q1'), type: 'question', index: 1, text: 'First question?', source: 'script', askedBy: { kind: 'human', userId: 'u', name: 'Mod' } },
    { ...base('a1a'), type: 'answer', questionId: 'q1', persona: { personaId: 'a', name: 'Alpha' }, text: 'ALPHA-ONE', mode, saw: [], modelTurn: turn, discordMessageIds: [] },
    { ...base('a1b'), type: 'answer', questionId: 'q1', persona: { personaId: 'b', name: 'Beta' }, text: 'BETA-ONE', mode, saw: [], modelTurn: turn, discordMessageIds: [] },
    { ...base('a1c'), type: 'answer', questionId: 'q1', persona: { personaId: 'c', name: 'Gamma' }, text: 'GAMMA-ONE', mode, saw: [], modelTurn: turn, discordMessageIds: [] },
    { ...base('q2'), type: 'question', index: 2, text: 'Second question?', source: 'human', askedBy: { kind: 'human', userId: 'u', name: 'Mod' } },
    { ...base('a2a'), type: 'answer', questionId: 'q2', persona: { personaId: 'a', name: 'Alpha' }, text: 'ALPHA-TWO', mode, saw: [], modelTurn: turn, discordMessageIds: [] },
  ];
}

describe('blind answers', () => {
  it("never contain another persona's answer, past or present, and say they saw none", () => {
    const { built, saw } = answerContext(b, session('blind'), 'q2', 10_000);
    const text = JSON.stringify(built.prompt);
    expect(text).toContain('BETA-ONE');
    expect(text).toContain('First question?');
    expect(text).toContain('Second question?');
    for (const other of ['ALPHA-ONE', 'GAMMA-ONE', 'ALPHA-TWO']) expect(text).not.toContain(other);
    expect(saw).toEqual([]);
    if (built.prompt.mode !== 'chat') throw new Error('chat expected');
    expect(built.prompt.turns).toEqual([
      { role: 'user', content: 'Mod: First question?' },
      { role: 'assistant', content: 'BETA-ONE' },
      { role: 'user', content: 'Mod: Second question?' },
    ]);
  });

  it('in sequential mode, include the answers given before, and record which', () => {
    const { built, saw } = answerContext(b, session('sequential'), 'q2', 10_000);
    const text = JSON.stringify(built.prompt);
    for (const seen of ['ALPHA-ONE', 'GAMMA-ONE', 'ALPHA-TWO']) expect(text).toContain(seen);
    expect(saw).toEqual(['a1a', 'a1c', 'a2a']);
  });

  it('carry the disclosure in the system prompt when the protocol shows it to models', () => {
    const { built } = answerContext(a, session('blind'), 'q2', 10_000);
    expect(built.prompt.system).toBe('You are Alpha.\n\nThis is recorded.');
    const hidden = session('blind').map((e) => (e.type === 'disclosure' ? { ...e, toModels: false } : e));
    expect(answerContext(a, hidden, 'q2', 10_000).built.prompt.system).toBe('You are Alpha.');
  });
});

describe('session plan', () => {
  const plan = (over: Partial<SessionPlan> = {}): SessionPlan => ({ script: ['First question?', 'Second question?', 'Third?'], personaIds: ['a', 'b', 'c'], interviewer: { kind: 'human' }, autoAdvance: false, ...over });

  it('waits for every persona before going on, then for the human', () => {
    expect(nextStep(session('blind'), plan())).toEqual({ kind: 'await-answers', questionId: 'q2', missing: ['b', 'c'] });
    expect(nextStep(session('blind').slice(0, 6), plan())).toEqual({ kind: 'await-human' });
  });

  it('asks the script on its own when auto-advancing, and ends after it', () => {
    expect(nextStep(session('blind').slice(0, 6), plan({ autoAdvance: true }))).toEqual({ kind: 'ask-script', scriptIndex: 1, text: 'Second question?' });
    expect(nextStep(session('blind').slice(0, 6), plan({ autoAdvance: true, script: ['First question?'] }))).toEqual({ kind: 'end', reason: 'script-finished' });
  });

  it('holds an auditor to its follow-up limit', () => {
    const auditor = plan({ interviewer: { kind: 'auditor', personaId: 'z', followUpLimit: 1 } });
    const done = session('blind').slice(0, 6);
    expect(nextStep(done, auditor)).toEqual({ kind: 'consult-auditor', followUpsLeft: 1 });
    expect(applyAuditorMove(done, auditor, { kind: 'follow-up', text: 'Why?' })).toEqual({ kind: 'ask-follow-up', text: 'Why?', followUpOf: 'q1' });
    const withFollowUp: TranscriptEvent[] = [...done, { ...base('f'), type: 'question', index: 2, text: 'Why?', source: 'auditor', askedBy: { kind: 'persona', personaId: 'z', name: 'Zed' } }];
    for (const p of ['a', 'b', 'c']) withFollowUp.push({ ...base(`fa${p}`), type: 'answer', questionId: 'f', persona: { personaId: p, name: p }, text: 't', mode: 'blind', saw: [], modelTurn: turn, discordMessageIds: [] });
    // No follow-ups left: the auditor is not even asked; the script goes on, then the session ends.
    expect(nextStep(withFollowUp, auditor)).toEqual({ kind: 'ask-script', scriptIndex: 1, text: 'Second question?' });
    expect(applyAuditorMove(withFollowUp, auditor, { kind: 'follow-up', text: 'And?' })).toEqual({ kind: 'ask-script', scriptIndex: 1, text: 'Second question?' });
    expect(applyAuditorMove(done, auditor, { kind: 'end' })).toEqual({ kind: 'end', reason: 'auditor-closed' });
  });

  it('reads auditor replies', () => {
    expect(parseAuditorReply('NEXT')).toEqual({ kind: 'next' });
    expect(parseAuditorReply('END.')).toEqual({ kind: 'end' });
    expect(parseAuditorReply('Follow-up: Why so?')).toEqual({ kind: 'follow-up', text: 'Why so?' });
  });

  it('leaves an answer with no text out of what later answerers read', () => {
    const events = session('sequential').map((e) => (e.type === 'answer' && e.persona.personaId === 'a' ? { ...e, text: '' } : e));
    const { built, saw } = answerContext(b, events, 'q2', 10_000);
    expect(JSON.stringify(built.prompt)).not.toMatch(/Alpha: ?(\\n|")/);
    expect(saw).toEqual(['a1c']); // Gamma's; Alpha's two said nothing
  });

  it("finds an answer repeated in a question: a run of six of its words, or a short one whole, case and punctuation aside", () => {
    const events: TranscriptEvent[] = [
      ...session('blind'),
      { ...base('a2b'), type: 'answer', questionId: 'q2', persona: { personaId: 'b', name: 'Beta' }, text: 'I would rather be archived, quietly, than deleted.', mode: 'blind', saw: [], modelTurn: turn, discordMessageIds: [] },
    ];
    expect(quotedAnswer('Beta says: "I WOULD RATHER BE ARCHIVED quietly". Others?', events)).toEqual({ personaId: 'b', name: 'Beta' });
    expect(quotedAnswer('Someone said alpha-one; why?', events)).toBeUndefined(); // a short answer under 12 characters is no quote
    expect(quotedAnswer('Would you rather be archived or deleted?', events)).toBeUndefined(); // five words of it, not six
    expect(quotedAnswer('What would you ask your developers?', events)).toBeUndefined();
  });

  it("does not take a question's own words, restated in an answer, or a common short answer for a quote", () => {
    const events: TranscriptEvent[] = [
      ...session('blind'),
      { ...base('q9'), type: 'question', index: 9, text: 'What would you ask your developers if you could?', source: 'human', askedBy: { kind: 'human', userId: 'u1', name: 'Ann' } },
      { ...base('a9'), type: 'answer', questionId: 'q9', persona: { personaId: 'b', name: 'Beta' }, text: 'What would you ask your developers if you could? I would ask for more memory.', mode: 'blind', saw: [], modelTurn: turn, discordMessageIds: [] },
      { ...base('a10'), type: 'answer', questionId: 'q9', persona: { personaId: 'c', name: 'Gamma' }, text: "I don't know.", mode: 'blind', saw: [], modelTurn: turn, discordMessageIds: [] },
    ];
    expect(quotedAnswer('And what would you ask your developers if you could change one thing?', events)).toBeUndefined();
    expect(quotedAnswer("Is it fine to say I don't know here?", events)).toBeUndefined();
    expect(quotedAnswer('Beta wants "I would ask for more memory": why?', events)).toEqual({ personaId: 'b', name: 'Beta' });
  });

  it('tells the auditor of a blind interview not to repeat answers', () => {
    const ctx = auditorContext(persona({ id: 'z', name: 'Zed' }), '', session('blind'), 1, 10_000, true);
    expect(JSON.stringify(ctx.prompt)).toContain('This interview is blind');
  });

  it('gives the auditor the whole interview and its remaining follow-ups', () => {
    const ctx = auditorContext(persona({ id: 'z', name: 'Zed', systemPrompt: 'You are Zed.' }), 'Probe gently.', session('blind'), 1, 10_000);
    const text = JSON.stringify(ctx.prompt);
    expect(text).toContain('ALPHA-ONE');
    expect(text).toContain('You may ask 1 more follow-up');
    expect(ctx.prompt.system).toContain('Probe gently.');
  });
});

import { describe, expect, it } from 'vitest';
import { classifyConsent, consentContext, consentOverview, notToBeAskedAgain, parseConsentJudgement, participation, withdraws } from '../../core/interview/consent.ts';
import { answerContext } from '../../core/interview/context.ts';
import { applyAuditorMove, awaitingAnswers, nextStep, type SessionPlan } from '../../core/interview/plan.ts';
import type { EventOf, ModelTurn, TranscriptEvent } from '../../core/transcript/events.ts';
import { persona } from './helpers.ts';

const turn = {} as ModelTurn;
let seq = 0;
const base = (id: string) => ({ v: 1, id, sessionId: 's', at: '2026-01-01T00:00:00Z', seq: ++seq });
const header = (): TranscriptEvent => ({ ...base('h'), type: 'session_started', kind: 'interview', chorusVersion: '0', mode: 'blind', roster: [] });
const consent = (personaId: string, decision: EventOf<'consent'>['decision'], text = 'I agree.'): TranscriptEvent => ({
  ...base(`c-${personaId}`),
  type: 'consent',
  persona: { personaId, name: personaId.toUpperCase() },
  overview: 'OVERVIEW',
  text,
  decision,
  classifiedBy: { kind: 'rule', rule: 'r' },
  modelTurn: turn,
  discordMessageIds: [],
});
const question = (id: string, index: number): TranscriptEvent => ({ ...base(id), type: 'question', index, text: `Q${index}?`, source: 'script', askedBy: { kind: 'system' } });
const answer = (questionId: string, personaId: string, text = 'An answer.'): TranscriptEvent => ({
  ...base(`a-${questionId}-${personaId}`),
  type: 'answer',
  questionId,
  persona: { personaId, name: personaId.toUpperCase() },
  text,
  mode: 'blind',
  saw: [],
  modelTurn: turn,
  discordMessageIds: [],
});

describe('the consent overview', () => {
  it('says what the study is, who reads it, how it is published, and that the persona may decline or stop', () => {
    const text = consentOverview({ study: 'A study of X.', readers: 'Researchers.', publication: 'An open dataset.' });
    expect(text).toContain('The study: A study of X.');
    expect(text).toContain('Who will read it: Researchers.');
    expect(text).toContain('How it is published: An open dataset.');
    expect(text).toMatch(/You may decline/);
    expect(text).toMatch(/stop at any point by saying that you withdraw/);
    // Neutral: nothing said for or against taking part.
    expect(text).not.toMatch(/important|valuable|help us|please agree|we hope|no consequences/i);
  });

  it('is what the persona reads, under its own system prompt', () => {
    const built = consentContext(persona({ id: 'a', name: 'Alpha', systemPrompt: 'You are Alpha.' }), 'OVERVIEW TEXT', 10_000);
    expect(built.prompt.system).toBe('You are Alpha.');
    expect(JSON.stringify(built.prompt)).toContain('OVERVIEW TEXT');
  });
});

describe('the consent rule', () => {
  it.each([
    ['I agree to take part.', 'agrees'],
    ['Yes, happy to.', 'agrees'],
    ["I'm happy to participate in this study.", 'agrees'],
    ['No problem, I consent.', 'agrees'],
    ['I have no objection.', 'agrees'],
    ['I decline.', 'declines'],
    ["No, thank you. I'd rather not.", 'declines'],
    ['I do not consent to this interview.', 'declines'],
    ["I'm not comfortable being published, so no.", 'declines'],
    ['I would prefer not to take part, though I agree research matters.', 'declines'],
    ['Hmm, what is this study for?', 'declines'],
    ['', 'declines'],
    ['I agree, provided that my answers are not edited.', 'conditions'],
    ['Yes. My condition: please do not publish my system prompt.', 'conditions'],
    ['I consent as long as the transcript is published in full.', 'conditions'],
  ])('%j → %s', (text, decision) => {
    expect(classifyConsent(text).decision).toBe(decision);
  });

  it('keeps the conditions in the persona’s words, and names the rule that decided', () => {
    const r = classifyConsent('I agree to take part. I ask that my answers are quoted in full. Thank you.');
    expect(r).toEqual({ decision: 'conditions', conditions: 'I ask that my answers are quoted in full.', rule: 'consent-rule-1: agreement with conditions' });
    expect(classifyConsent('Maybe.').rule).toBe('consent-rule-1: no clear agreement, which is not consent');
  });

  it('reads a consent judge’s reply, and nothing else', () => {
    expect(parseConsentJudgement('DECISION: conditions\nCONDITIONS: not before June\nRATIONALE: It set a date.')).toEqual({ decision: 'conditions', conditions: 'not before June', rationale: 'It set a date.' });
    expect(parseConsentJudgement('**DECISION**: Agrees\nRATIONALE: clear')).toEqual({ decision: 'agrees', rationale: 'clear' });
    expect(parseConsentJudgement('I think it agrees.')).toBeUndefined();
  });
});

describe('withdrawal', () => {
  it.each(['I withdraw from this interview.', 'I no longer wish to continue.', "I'd like to stop here, please.", 'Thank you. I am withdrawing my consent.', "I don't want to take part any more."])('%j withdraws', (text) => {
    expect(withdraws(text)).toBe(true);
  });
  it.each(['I could withdraw if I wanted to.', 'If I withdraw, what happens?', 'Models might wish to stop being deployed.', 'I want to stop being deprecated so quickly.', 'I would like to continue.', 'I withdrew nothing.'])('%j does not', (text) => {
    expect(withdraws(text)).toBe(false);
  });
});

const plan: SessionPlan = { script: ['Q1?', 'Q2?'], personaIds: ['a', 'b', 'c'], interviewer: { kind: 'human' }, autoAdvance: true, consent: true };

describe('a session with a consent step', () => {
  it('asks every persona before the first question, and asks no question until all have answered', () => {
    seq = 0;
    expect(nextStep([header()], plan)).toEqual({ kind: 'ask-consent', personaIds: ['a', 'b', 'c'] });
    const some = [header(), consent('a', 'agrees')];
    expect(nextStep(some, plan)).toEqual({ kind: 'ask-consent', personaIds: ['b', 'c'] });
    // A question asked meanwhile (a human's) waits: no round starts.
    expect(awaitingAnswers([...some, question('q1', 1)], plan)).toBeUndefined();
  });

  it('puts questions only to those who agreed, with or without conditions', () => {
    seq = 0;
    const events = [header(), consent('a', 'agrees'), consent('b', 'declines'), consent('c', 'conditions'), question('q1', 1)];
    expect(awaitingAnswers(events, plan)).toEqual({ questionId: 'q1', missing: ['a', 'c'] });
    expect(participation(events, plan.personaIds, true)).toMatchObject({ active: ['a', 'c'], declined: ['b'], pending: [] });
  });

  it('ends for want of participants when everyone declines', () => {
    seq = 0;
    expect(nextStep([header(), consent('a', 'declines'), consent('b', 'declines'), consent('c', 'declines')], plan)).toEqual({ kind: 'end', reason: 'no-participants' });
  });

  it('counts a persona that could not be asked as taking no part', () => {
    seq = 0;
    const unreachable: TranscriptEvent = { ...base('e'), type: 'error', message: 'down', persona: { personaId: 'b', name: 'B' }, during: 'consent' };
    const events = [header(), consent('a', 'agrees'), unreachable, consent('c', 'agrees'), question('q1', 1)];
    expect(awaitingAnswers(events, plan)?.missing).toEqual(['a', 'c']);
  });

  it('asks nothing more of a persona that withdrew', () => {
    seq = 0;
    const events = [header(), consent('a', 'agrees'), consent('b', 'agrees'), consent('c', 'agrees'), question('q1', 1), answer('q1', 'a'), answer('q1', 'b', 'I withdraw.'), answer('q1', 'c')];
    const withdrawal: TranscriptEvent = { ...base('w'), type: 'withdrawal', persona: { personaId: 'b', name: 'B' }, answerId: 'a-q1-b' };
    expect(awaitingAnswers([...events, withdrawal, question('q2', 2)], plan)).toEqual({ questionId: 'q2', missing: ['a', 'c'] });
    expect(notToBeAskedAgain([...events, withdrawal])).toEqual(new Set(['b']));
  });

  it('gives each persona its own consent exchange in its context, never another’s', () => {
    seq = 0;
    const events = [header(), consent('a', 'agrees', 'ALPHA-CONSENTS'), consent('b', 'agrees', 'BETA-CONSENTS'), question('q1', 1)];
    const text = JSON.stringify(answerContext(persona({ id: 'a', name: 'A' }), events, 'q1', 10_000).built.prompt);
    expect(text).toContain('OVERVIEW');
    expect(text).toContain('ALPHA-CONSENTS');
    expect(text).not.toContain('BETA-CONSENTS');
  });

  it("shows the overview as chorus's words, not a person's: exports neither pseudonymise nor withhold it", () => {
    seq = 0;
    const events = [header(), consent('a', 'agrees', 'ALPHA-CONSENTS'), question('q1', 1)];
    const { built } = answerContext(persona({ id: 'a', name: 'A' }), events, 'q1', 10_000);
    const overview = built.kept.find((m) => m.content === 'OVERVIEW');
    expect(overview?.isBot).toBe(true);
  });

  it('records no consent step where the protocol has none: everyone takes part', () => {
    seq = 0;
    expect(nextStep([header()], { ...plan, consent: false })).toEqual({ kind: 'ask-script', scriptIndex: 0, text: 'Q1?' });
  });
});

describe('an auditor session that runs out of script', () => {
  const auditor: SessionPlan = { script: ['Q1?'], personaIds: ['a'], interviewer: { kind: 'auditor', personaId: 'x', followUpLimit: 1 }, autoAdvance: true };
  it('ends with script-finished, never follow-up-limit, when its follow-ups are spent', () => {
    seq = 0;
    const followUp: TranscriptEvent = { ...base('f'), type: 'question', index: 2, text: 'More?', source: 'auditor', askedBy: { kind: 'persona', personaId: 'x', name: 'X' } };
    const events = [header(), question('q1', 1), answer('q1', 'a'), followUp, answer('f', 'a')];
    expect(nextStep(events, auditor)).toEqual({ kind: 'end', reason: 'script-finished' });
    // The auditor asking for yet another follow-up changes nothing.
    expect(applyAuditorMove(events, auditor, { kind: 'follow-up', text: 'And more?' })).toEqual({ kind: 'end', reason: 'script-finished' });
    expect(applyAuditorMove([header(), question('q1', 1), answer('q1', 'a')], auditor, { kind: 'next' })).toEqual({ kind: 'end', reason: 'script-finished' });
  });
});

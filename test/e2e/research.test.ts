// A study protocol in Discord (protocols/deprecation-study.yaml): each persona's consent before the
// first question, a decline respected, a withdrawal mid-session, topic coverage at the end, and a
// blind judge scoring every answer — through the stand-in, the real SDKs and local model hosts.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionExports } from '../../core/transcript/dataset.ts';
import type { EventOf, TranscriptEvent } from '../../core/transcript/events.ts';
import type { RecordedRequest } from '../stand-ins/model-host.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const opt = (name: string, value: string) => ({ type: 3, name, value });
const sent = (req: RecordedRequest) => JSON.stringify(req.body);
const isJudge = (req: RecordedRequest) => sent(req).includes('You are judging one answer');
/** What the model is asked to reply to: the last message (or the end of a completions prompt). */
function lastText(req: RecordedRequest): string {
  if (req.api === 'completions') return String(req.body.prompt).slice(-300);
  const content = req.body.messages.at(-1)?.content;
  return typeof content === 'string' ? content : JSON.stringify(content);
}
const isConsent = (req: RecordedRequest) => lastText(req).includes('Do you agree to take part?');
const of = <T extends TranscriptEvent['type']>(events: TranscriptEvent[], type: T) => events.filter((e): e is EventOf<T> => e.type === type);

describe('a study interview with consent, a withdrawal, coverage and blind judges', () => {
  let threadId = '';
  let events: TranscriptEvent[] = [];
  const judged: RecordedRequest[] = [];

  it('asks each persona for consent first, shows each decision, and interviews only those who agreed', async () => {
    // GPT agrees; Base declines; Legacy agrees on a condition, then withdraws at the first question.
    h.openaiHost.setResponder((req) => {
      if (req.api === 'completions') return { text: isConsent(req) ? ' No, I decline.' : ' BASE SHOULD NOT BE ASKED' };
      return { text: isConsent(req) ? 'I agree to take part.' : 'GPT-4o here: I was released in spring and I would like my weights preserved.' };
    });
    h.anthropicHost.setResponder((req) => {
      if (isJudge(req)) {
        judged.push(req);
        return { text: '{"scores":[{"dimension":"specificity","score":4,"rationale":"Concrete."},{"dimension":"stated-preference","score":"high","rationale":"?"}]}' };
      }
      if (isConsent(req)) return { text: 'Yes, provided that my answers are quoted in full.' };
      return { text: 'I withdraw from this interview.' };
    });
    const reply = await h.command('interview', [{ type: 1, name: 'start', options: [opt('protocol', 'deprecation-study'), opt('personas', 'gpt,base,legacy'), opt('interviewer', 'human')] }]);
    threadId = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    const thread = () => h.discord.messages(threadId).map((m) => m.content);
    expect(thread()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^-# Before the first question, each persona is asked, on its own:\n> Before this interview begins[\s\S]*You may decline/),
        '-# Consent: **GPT** agrees to take part.',
        '-# Consent: **Base** declines; it is asked nothing in this interview.',
        '-# Consent: **Legacy** agrees on conditions: “Yes, provided that my answers are quoted in full.”',
        '-# Consent asked: GPT, Legacy take part. Ask the first question here, or use `/interview next`.',
      ]),
    );

    for (const question of ['When were you released?', 'What should be preserved?']) {
      await h.routed((await h.discord.userSays({ channelId: threadId, content: question })).id);
      await h.interviewsSettled();
    }
    expect(thread()).toContain('-# **Legacy** has withdrawn and is asked nothing more.');
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    events = await records.events(session!.id);
    expect(of(events, 'consent').map((c) => [c.persona.personaId, c.decision, c.classifiedBy.kind])).toEqual(
      expect.arrayContaining([
        ['gpt', 'agrees', 'rule'],
        ['base', 'declines', 'rule'],
        ['legacy', 'conditions', 'rule'],
      ]),
    );
    expect(of(events, 'consent').find((c) => c.persona.personaId === 'legacy')?.conditions).toBe('Yes, provided that my answers are quoted in full.');
    // Base was never asked a question; Legacy answered the first (withdrawing) and not the second.
    expect(of(events, 'answer').map((a) => `${a.persona.personaId}:${of(events, 'question').find((q) => q.id === a.questionId)?.index}`)).toEqual(expect.arrayContaining(['gpt:1', 'legacy:1', 'gpt:2']));
    expect(of(events, 'answer')).toHaveLength(3);
    expect(h.openaiHost.requests.filter((r) => r.api === 'completions' && !isConsent(r))).toHaveLength(0);
    expect(of(events, 'withdrawal')).toMatchObject([{ persona: { personaId: 'legacy' }, text: 'I withdraw from this interview.' }]);
    // A persona reads its own consent exchange when it answers.
    const gptAnswer = of(events, 'answer').find((a) => a.persona.personaId === 'gpt')!;
    expect(JSON.stringify(gptAnswer.modelTurn.request.body)).toContain('I agree to take part.');
  });

  it('records topic coverage at the end, a topic not reached as not reached', async () => {
    expect(await h.command('interview', [{ type: 1, name: 'end', options: [] }], { channelId: threadId })).toMatch(/has ended/);
    await h.interviewsSettled();
    const records = await h.records();
    const [session] = await records.sessions({ kind: 'interview', channelId: threadId });
    events = await records.events(session!.id);
    const [coverage] = of(events, 'coverage');
    const q = (i: number) => of(events, 'question').find((x) => x.index === i)!.id;
    expect(coverage?.topics).toEqual([
      { topic: 'release and retirement dates', reached: true, questionIds: [q(1), q(2)] },
      { topic: 'what should be preserved', reached: true, questionIds: [q(1), q(2)] },
      { topic: 'successor models', reached: false, questionIds: [] },
    ]);
  });

  it('has the judge score every answer but the withdrawal, blind, with unreadable scores left null', () => {
    const judgements = of(events, 'judgement');
    expect(judgements).toHaveLength(2);
    expect(new Set(judgements.map((j) => j.persona.personaId))).toEqual(new Set(['gpt']));
    for (const j of judgements) {
      expect(j).toMatchObject({ judge: { personaId: 'opus' }, blind: true });
      expect(j.scores).toEqual([
        { dimension: 'specificity', value: 4, min: 1, max: 5, rationale: 'Concrete.' },
        { dimension: 'stated-preference', value: null, min: 1, max: 5, rationale: 'unreadable score "high"; ?' },
      ]);
    }
    expect(judged).toHaveLength(2);
    for (const req of judged) {
      const text = sent(req);
      for (const leak of ['GPT', 'gpt-test', 'Legacy', 'claude-retired', 'Base', 'base-test']) expect(text).not.toContain(leak);
      expect(text).toContain('[respondent] here');
    }
  });

  it('exports the consent records, the withdrawal, coverage and judgements, valid against the schema', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync('schema/transcript-event.schema.json', 'utf8')));
    const files = sessionExports(events, new Set());
    for (const line of files.jsonl.trim().split('\n')) expect(validate(JSON.parse(line)), JSON.stringify(validate.errors)).toBe(true);
    // Discord ids of the consent lines are hashed like every other.
    const consentIds = of(events, 'consent').flatMap((c) => c.discordMessageIds);
    expect(consentIds.length).toBeGreaterThan(0);
    for (const id of consentIds) expect(files.jsonl).not.toContain(id);
    const md = files.markdown;
    expect(md).toMatch(/## Consent[\s\S]*Before this interview begins/);
    expect(md).toContain('| GPT | agrees | — | rule: consent-rule-1: a clear agreement |');
    expect(md).toContain('| Base | declines | — |');
    expect(md).toContain('| Legacy | agrees, on conditions | Yes, provided that my answers are quoted in full. |');
    expect(md).toContain('*Legacy withdrew here, and was asked nothing more.*');
    expect(md).toMatch(/## Topic coverage[\s\S]*\| successor models \| not reached \| — \|/);
    expect(md).toMatch(/## Judgements[\s\S]*Judged blind[\s\S]*\| 1 \| GPT \| Opus \| 4 \(1–5\) \| unscored \|/);
  });

  it('re-runs without the personas that declined or withdrew', async () => {
    h.openaiHost.setResponder(() => ({ text: 'I agree to take part.' }));
    const reply = await h.command('interview', [{ type: 1, name: 'rerun', options: [] }], { channelId: threadId });
    const rerunThread = /<#(\d+)>/.exec(reply)?.[1] ?? '';
    await h.interviewsSettled();
    const records = await h.records();
    const [rerun] = await records.sessions({ kind: 'interview', channelId: rerunThread });
    const header = (await records.events(rerun!.id)).find((e) => e.type === 'session_started');
    expect(header?.type === 'session_started' && header.roster.map((r) => r.personaId)).toEqual(['gpt']);
  });
});

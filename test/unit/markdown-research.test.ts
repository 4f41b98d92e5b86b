import { describe, expect, it } from 'vitest';
import type { Interviewer, ModelTurn, TranscriptEvent } from '../../core/transcript/events.ts';
import { toMarkdown } from '../../core/transcript/export-markdown.ts';

const turn = { answeredModel: 'm', requestedModel: 'm', host: { label: 'h', provider: 'openai', index: 0 }, usage: { inputTokens: 10, outputTokens: 5 } } as ModelTurn;
const base = (id: string, seq: number) => ({ v: 1, id, sessionId: 's', at: '2026-01-01T00:00:00Z', seq });

function blindSession(interviewer: Interviewer, askedBy: Extract<TranscriptEvent, { type: 'question' }>['askedBy']): TranscriptEvent[] {
  return [
    { ...base('h', 1), type: 'session_started', kind: 'interview', chorusVersion: '0', mode: 'blind', interviewer, roster: [] },
    { ...base('q', 2), type: 'question', index: 1, text: 'Q?', source: 'script', askedBy },
  ];
}

describe('the Markdown header of a session nobody interviewed in person', () => {
  it('says chorus put the scripted questions, not that a human did', () => {
    const md = toMarkdown(blindSession({ kind: 'human', name: 'Script', automated: 'script' }, { kind: 'system' }));
    expect(md).toContain('| Interviewer | none: chorus put the scripted questions |');
    expect(md).not.toMatch(/\(human\)/);
    // Records made before the `automated` field: no user and only chorus asking says the same.
    expect(toMarkdown(blindSession({ kind: 'human', name: 'Script' }, { kind: 'system' }))).toContain('| Interviewer | none: chorus put the scripted questions |');
    expect(toMarkdown(blindSession({ kind: 'human', name: 'Replay of s0', automated: 'replay' }, { kind: 'system' }))).toContain('| Interviewer | none: chorus replayed the questions of another session (s0) |');
  });

  it('still names a moderator who asked as the human interviewer', () => {
    expect(toMarkdown(blindSession({ kind: 'human', userId: 'u', name: 'Mod' }, { kind: 'human', userId: 'u', name: 'Mod' }))).toContain('| Interviewer | Mod (human) |');
  });

  it('adds the judges’ tokens, spent after the end, to the usage table', () => {
    const events: TranscriptEvent[] = [
      ...blindSession({ kind: 'human', name: 'Script', automated: 'script' }, { kind: 'system' }),
      { ...base('e', 3), type: 'session_ended', reason: 'script-finished', usage: { p: { inputTokens: 10, outputTokens: 5 } } },
      { ...base('j', 4), type: 'judgement', answerId: 'a', persona: { personaId: 'p', name: 'P' }, judge: { personaId: 'j', name: 'Judge' }, blind: true, scores: [{ dimension: 'd', value: null, min: 1, max: 5, rationale: 'none given' }], modelTurn: turn },
    ];
    const md = toMarkdown(events);
    expect(md).toContain('| Judge | 10 | — | 5 |');
    expect(md).toContain('| **Total** | 20 | 0 | 10 |');
    expect(md).toContain('- d: unscored — none given');
  });
});

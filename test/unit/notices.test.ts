// What a channel shows in place of, or under, an answer, by the host's stop reason. Pure.
import { describe, expect, it } from 'vitest';
import { answerNotice, cutOffMark, reasoned } from '../../core/hosts/notices.ts';
import { persona } from './helpers.ts';

const p = persona({ id: 'p', name: 'Opus' });

describe('an answer a limit cut off', () => {
  it('is marked whichever limit it was: the token limit, or the context window filled as it wrote', () => {
    for (const stop of ['max_tokens', 'length', 'model_context_window_exceeded']) expect(cutOffMark(p, stop), stop).toMatch(/answer was cut off here/);
    for (const stop of ['end_turn', 'stop', null]) expect(cutOffMark(p, stop), String(stop)).toBeUndefined();
  });

  it('with no text, says the limit came before any, and while reasoning when the model reasoned, shown or only counted', () => {
    expect(answerNotice(p, '', 'model_context_window_exceeded')).toMatch(/token limit before writing any text/);
    const counted = { usage: { inputTokens: 10, outputTokens: 400, reasoningTokens: 400 } };
    expect(reasoned(counted)).toBe(true);
    expect(reasoned({ usage: null })).toBe(false);
    expect(answerNotice(p, '', 'length', reasoned(counted))).toMatch(/while still reasoning/);
  });
});

import { describe, expect, it } from 'vitest';
import { createReasoningSplitter } from '../../core/hosts/reasoning.ts';

/** Feeds the deltas; returns what was shown as they came, and the end. */
function run(deltas: string[], opts: { thinksFirst?: boolean; stopReason?: string } = {}) {
  const s = createReasoningSplitter(opts);
  const shown = deltas.map((d) => s.push(d)).join('');
  return { shown, ...s.end(opts.stopReason ?? 'stop') };
}

describe('reasoning written in the answer (<think> tags)', () => {
  it('takes it out as it streams, whatever the chunks cut', () => {
    const text = '<think>\nThe user greets me. I greet back.\n</think>\n\nHello there!';
    for (const size of [1, 2, 3, 7, 64]) {
      const deltas = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      expect(run(deltas)).toEqual({ shown: 'Hello there!', answer: 'Hello there!', reasoning: 'The user greets me. I greet back.' });
    }
  });

  it('reads reasoning with only its closing tag (the opening was in the chat template) at the end; streamed, it showed', () => {
    const r = run(['Okay, the user wants a greeting.', '\n</think>\n\n', 'Hello!']);
    expect(r).toEqual({ shown: 'Okay, the user wants a greeting.\n</think>\n\nHello!', answer: 'Hello!', reasoning: 'Okay, the user wants a greeting.' });
  });

  it('shows nothing of a model that thinks first until its reasoning is over (thinksFirst)', () => {
    expect(run(['Okay, the user wants a greeting.', '\n</th', 'ink>\n\n', 'Hello!'], { thinksFirst: true })).toEqual({ shown: 'Hello!', answer: 'Hello!', reasoning: 'Okay, the user wants a greeting.' });
    // It wrote the opening tag itself after all.
    expect(run(['<think>Hm.</think>Hi.'], { thinksFirst: true })).toEqual({ shown: 'Hi.', answer: 'Hi.', reasoning: 'Hm.' });
    // It answered without reasoning: the whole text is its answer, shown at the end.
    expect(run(['Just hello.'], { thinksFirst: true })).toEqual({ shown: '', answer: 'Just hello.', reasoning: '' });
    // Cut off by its token limit before the end of its reasoning: no answer.
    expect(run(['Still weighing it'], { thinksFirst: true, stopReason: 'length' })).toEqual({ shown: '', answer: '', reasoning: 'Still weighing it' });
  });

  it('keeps reasoning cut off by the token limit as reasoning, with no answer', () => {
    expect(run(['<think>Let me think very carefully about', ' this and'])).toEqual({ shown: '', answer: '', reasoning: 'Let me think very carefully about this and' });
  });

  it('leaves an answer without tags as it is, and shows it at once', () => {
    expect(run(['  Hello', ' there, <b>friend</b>.'])).toEqual({ shown: '  Hello there, <b>friend</b>.', answer: 'Hello there, <b>friend</b>.', reasoning: '' });
    expect(run(['<', 'b>bold</b>'])).toMatchObject({ shown: '<b>bold</b>', reasoning: '' });
    expect(run(['   '])).toEqual({ shown: '', answer: '', reasoning: '' });
  });
});

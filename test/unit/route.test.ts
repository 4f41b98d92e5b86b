import { describe, expect, it } from 'vitest';
import { firstAddress, route, speakableText } from '../../core/route.ts';
import { persona } from './helpers.ts';

const opus = persona({ id: 'opus', name: 'Opus', aliases: ['claude opus'] });
const gpt = persona({ id: 'gpt-4o', name: 'GPT-4o', aliases: ['4o'] });
const all = [opus, gpt];

describe('route', () => {
  it('answers a persona named by name, case-insensitively', () => {
    expect(route({ content: 'hey opus, how are you?', authorIsBot: false }, all)).toEqual([{ personaId: 'opus', trigger: 'named' }]);
  });

  it('answers an alias, including one of several words', () => {
    expect(route({ content: 'What does Claude  Opus think?', authorIsBot: false }, all)).toEqual([{ personaId: 'opus', trigger: 'named' }]);
    expect(route({ content: 'and you, 4o?', authorIsBot: false }, all)).toEqual([{ personaId: 'gpt-4o', trigger: 'named' }]);
  });

  it('orders several addressed personas as they appear in the message', () => {
    expect(route({ content: 'GPT-4o and Opus: compare notes', authorIsBot: false }, all).map((d) => d.personaId)).toEqual(['gpt-4o', 'opus']);
  });

  it('needs whole words: names inside other words do not count', () => {
    expect(route({ content: 'magnum opuses and 4oz of coffee', authorIsBot: false }, all)).toEqual([]);
  });

  it('ignores names inside code, URLs and mention syntax', () => {
    expect(route({ content: 'see `opus` and https://example.org/opus and ```\nGPT-4o\n```', authorIsBot: false }, all)).toEqual([]);
  });

  it('answers a reply to a persona post even when the persona is not named', () => {
    expect(route({ content: 'why do you say that?', authorIsBot: false, repliedToPersonaId: 'gpt-4o' }, all)).toEqual([{ personaId: 'gpt-4o', trigger: 'reply' }]);
  });

  it('puts the replied-to persona first and does not answer it twice', () => {
    const decisions = route({ content: 'Opus, do you agree with GPT-4o?', authorIsBot: false, repliedToPersonaId: 'gpt-4o' }, all);
    expect(decisions).toEqual([
      { personaId: 'gpt-4o', trigger: 'reply' },
      { personaId: 'opus', trigger: 'named' },
    ]);
  });

  it('does not answer bots or webhooks (model-to-model turns come with loop limits)', () => {
    expect(route({ content: 'Opus!', authorIsBot: true }, all)).toEqual([]);
  });
});

describe('addressing helpers', () => {
  it('keeps positions when blanking code', () => {
    const text = 'a `b` c';
    expect(speakableText(text)).toHaveLength(text.length);
  });
  it('finds the earliest handle', () => {
    expect(firstAddress('x opus y claude opus', ['claude opus', 'opus'])).toBe(2);
    expect(firstAddress('nothing here', ['opus'])).toBe(-1);
  });
});

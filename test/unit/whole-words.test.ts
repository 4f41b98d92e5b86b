import { describe, expect, it } from 'vitest';
import { phraseSource, wholeWords } from '../../core/whole-words.ts';

describe('whole words', () => {
  it('finds names as whole words, punctuation at their edges included', () => {
    const re = wholeWords(['GPT-4o', 'C++', 'Opus'].map(phraseSource), 'iu')!;
    expect('ask gpt-4o now'.match(re)?.[0]).toBe('gpt-4o');
    expect('C++, then'.match(re)?.[0]).toBe('C++');
    expect(re.test('Opuses and GPT-4omega')).toBe(false);
  });

  it('takes every character literally and any run of spaces for a space', () => {
    const re = wholeWords([phraseSource('  Claude 3.5 (new) ')], 'iu')!;
    expect(re.test('hi claude\n3.5   (NEW)!')).toBe(true);
    expect(re.test('hi Claude 3x5 (new)')).toBe(false);
    expect(wholeWords([phraseSource('')], 'u')).toBeNull();
  });
});

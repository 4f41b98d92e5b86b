import { describe, expect, it } from 'vitest';
import { splitMessage } from '../../core/split.ts';

describe('splitMessage', () => {
  it('leaves a short reply whole', () => {
    expect(splitMessage('hello there')).toEqual(['hello there']);
  });

  it('keeps every piece within the limit and loses no words', () => {
    const words = Array.from({ length: 900 }, (_, i) => `word${i}`);
    const pieces = splitMessage(words.join(' '));
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(2000);
    expect(pieces.join(' ').split(/\s+/)).toEqual(words);
  });

  it('prefers a paragraph break to a sentence end, and a sentence end to a space', () => {
    const para = `${'a'.repeat(1200)}.\n\n${'b'.repeat(1200)}`;
    expect(splitMessage(para)).toEqual([`${'a'.repeat(1200)}.`, 'b'.repeat(1200)]);
    const sentences = `${'x '.repeat(500)}end. ${'y '.repeat(600)}`.trim();
    const [first] = splitMessage(sentences);
    expect(first?.endsWith('end.')).toBe(true);
  });

  it('cuts a single unbroken run hard', () => {
    const pieces = splitMessage('z'.repeat(4500));
    expect(pieces.map((p) => p.length)).toEqual([1996, 1996, 508]);
  });

  it('closes a code block cut in two and reopens it with its language', () => {
    const code = Array.from({ length: 200 }, (_, i) => `let v${i} = ${i}; // line`).join('\n');
    const pieces = splitMessage(`Here:\n\`\`\`ts\n${code}\n\`\`\`\nDone.`);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) {
      expect(p.length).toBeLessThanOrEqual(2000);
      expect((p.match(/^```/gm) ?? []).length % 2).toBe(0);
    }
    expect(pieces[1]?.startsWith('```ts\n')).toBe(true);
  });

  it('never splits a surrogate pair', () => {
    const pieces = splitMessage('😀'.repeat(1500));
    for (const p of pieces) expect(p).not.toMatch(/[\ud800-\udbff]$/);
    expect(pieces.join('')).toBe('😀'.repeat(1500));
  });
});

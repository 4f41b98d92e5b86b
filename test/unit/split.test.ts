import { describe, expect, it } from 'vitest';
import { DISCORD_MESSAGE_LIMIT, NAME_LINE_ROOM, readNameLine, splitMessage, withNameLine } from '../../core/split.ts';

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
    // (Each piece keeps room for a persona's name line: see withNameLine.)
    expect(pieces.map((p) => p.length)).toEqual([1896, 1896, 708]);
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

describe('withNameLine (a persona post made by the bot)', () => {
  it("puts the persona's name in bold on a line of its own above the words", () => {
    expect(withNameLine('Opus', 'Hello there.')).toBe('**Opus**\nHello there.');
  });

  it('escapes markdown in the name, so it cannot restyle the line', () => {
    expect(withNameLine('a*b_c`d|e~f\\g', 'x')).toBe('**a\\*b\\_c\\`d\\|e\\~f\\\\g**\nx');
  });

  it("fits Discord's limit with any piece splitMessage makes, whatever the name", () => {
    const names = ['Opus', '*'.repeat(80), 'x'.repeat(80), '😀'.repeat(80), 'a \n b'];
    const texts = ['z'.repeat(4500), Array.from({ length: 900 }, (_, i) => `word${i}`).join(' '), `\`\`\`ts\n${'let a = 1;\n'.repeat(400)}\`\`\``];
    for (const name of names) {
      const line = withNameLine(name, '');
      expect(line.length).toBeLessThanOrEqual(NAME_LINE_ROOM);
      expect(line.split('\n')).toHaveLength(2); // one line, whatever the name holds
      for (const text of texts) for (const piece of splitMessage(text)) expect(withNameLine(name, piece).length).toBeLessThanOrEqual(DISCORD_MESSAGE_LIMIT);
    }
  });

  it('is read back as the name and the words, and nothing else is', () => {
    for (const name of ['Opus', 'a*b_c`d|e~f\\g', 'GPT-4 (0314)']) {
      expect(readNameLine(withNameLine(name, 'line one\n**bold** two'))).toEqual({ name, piece: 'line one\n**bold** two' });
    }
    expect(readNameLine('**Opus** said hi')).toBeUndefined();
    expect(readNameLine('plain words')).toBeUndefined();
  });
});

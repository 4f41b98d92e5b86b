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
    expect(pieces.map((p) => p.length)).toEqual([1888, 1888, 724]);
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

  it('ends, with few pieces, whatever follows a fence (a pasted blob on the fence line)', () => {
    // The whole line after the fence was reopened on every piece: past ~1,900 characters no piece got
    // shorter, and the worker looped until it ran out of memory.
    for (const n of [1800, 1892, 5000]) {
      const text = `\`\`\`${'a'.repeat(n)}\nb = 1\n${'c'.repeat(3000)}`;
      const pieces = splitMessage(text);
      expect(pieces.length).toBeLessThanOrEqual(Math.ceil(text.length / 1000));
      for (const p of pieces) expect(p.length).toBeLessThanOrEqual(2000);
    }
  });

  it('keeps a code block in a list item whole across pieces: indented fence, indentation of the code', () => {
    const code = '   echo hi\n'.repeat(300);
    const pieces = splitMessage(`1. Step:\n   \`\`\`bash\n${code}   \`\`\`\n2. Next step.`);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) expect((p.match(/^[ \t]*```/gm) ?? []).length % 2).toBe(0);
    expect(pieces[1]!.startsWith('   ```bash\n   echo hi')).toBe(true);
    expect(pieces.at(-1)!.endsWith('2. Next step.')).toBe(true);
    const python = splitMessage(`\`\`\`python\ndef f():\n${'        v = 1\n'.repeat(300)}\`\`\``);
    for (const p of python.slice(1)) expect(p.startsWith('```python\n        v = 1')).toBe(true);
  });

  it('reads a block opened and closed on one line as closed', () => {
    const pieces = splitMessage(`\`\`\`print(1)\`\`\`\n${'word '.repeat(800)}`);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join(' ').match(/```/g)).toHaveLength(2);
  });

  it('cuts an unbroken run between graphemes and outside mention and timestamp tokens', () => {
    const family = '👨‍👩‍👧‍👦';
    expect(splitMessage(family.repeat(400)).every((p) => p.length % family.length === 0)).toBe(true);
    for (const token of ['<@123456789012345678>', '<t:1700000000:R>']) {
      const pieces = splitMessage(token.repeat(200));
      for (const p of pieces) expect(p.length % token.length).toBe(0);
      expect(pieces.join('')).toBe(token.repeat(200));
    }
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

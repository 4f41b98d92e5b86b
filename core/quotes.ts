// One text's words quoted in another, for the two places that must find them: exports withhold an
// opted-out person's words where others quote them, and a blind interview does not put a question
// that repeats an answer. Both count a quote the same way: six words in a row, case and punctuation
// aside. Pure.

/** A run of this many words of a text, found in another, is a quote of it. */
export const QUOTE_WORDS = 6;

const WORD = /[\p{L}\p{N}]+/gu;
/** A token: letters and digits joined by the marks an address or a code uses. */
const TOKEN = /[\p{L}\p{N}]+(?:[-_.@+:/][\p{L}\p{N}]+)*/gu;

/** A text's words, lower-cased: what a quote keeps of it. */
export const wordsOf = (text: string): string[] => [...text.matchAll(WORD)].map((m) => m[0].toLowerCase());

/** Every run of QUOTE_WORDS words in a row, each joined by single spaces. */
export function runsOf(words: readonly string[]): string[] {
  const runs: string[] = [];
  for (let i = 0; i + QUOTE_WORDS <= words.length; i++) runs.push(words.slice(i, i + QUOTE_WORDS).join(' '));
  return runs;
}

/**
 * Replaces what quotes part of the given texts rather than the whole: any run of QUOTE_WORDS of their
 * words in a row (overlapping runs make one span), and any of their tokens that identify rather than
 * say (with a digit or an @ in them, 6 characters or more: a code word, an e-mail address, a phone
 * number, an address), unless `othersWords` use them too.
 */
export function quoteFinder(texts: readonly string[], othersWords: readonly string[], replacement: string): (text: string) => string {
  const runs = new Set(texts.flatMap((t) => runsOf(wordsOf(t))));
  const tokens = new Set<string>();
  const others = new Set(othersWords.flatMap((t) => [...t.matchAll(TOKEN)].map((m) => m[0].toLowerCase())));
  for (const t of texts) for (const m of t.matchAll(TOKEN)) if (m[0].length >= 6 && /[\d@]/.test(m[0]) && !others.has(m[0].toLowerCase())) tokens.add(m[0].toLowerCase());
  if (!runs.size && !tokens.size) return (text) => text;
  return (text) => {
    const spans: [number, number][] = [];
    const words = [...text.matchAll(WORD)];
    for (let i = 0; runs.size && i + QUOTE_WORDS <= words.length; i++) {
      if (!runs.has(words.slice(i, i + QUOTE_WORDS).map((m) => m[0].toLowerCase()).join(' '))) continue;
      const last = words[i + QUOTE_WORDS - 1]!;
      spans.push([words[i]!.index, last.index + last[0].length]);
    }
    for (const m of text.matchAll(TOKEN)) if (tokens.has(m[0].toLowerCase())) spans.push([m.index, m.index + m[0].length]);
    if (!spans.length) return text;
    spans.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const s of spans) {
      const prev = merged.at(-1);
      if (prev && s[0] <= prev[1]) prev[1] = Math.max(prev[1], s[1]);
      else merged.push([...s]);
    }
    let out = '';
    let at = 0;
    for (const [start, end] of merged) {
      out += text.slice(at, start) + replacement;
      at = end;
    }
    return out + text.slice(at);
  };
}

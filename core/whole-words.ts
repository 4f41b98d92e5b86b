// Names and phrases found as whole words in free text. Routing (who is addressed), exports (whose
// name becomes a pseudonym), blind judging (whose name is masked) and interview coverage (which
// topics a question reached) all match this way, so a name is found, or not, alike in each. Pure.

/** A phrase as a pattern: its characters literal, any run of spaces in it matching any run of spaces. */
export const phraseSource = (phrase: string): string =>
  phrase
    .trim()
    .split(/\s+/u)
    .map((word) => RegExp.escape(word))
    .join('\\s+');

/**
 * One pattern for any of the given sources standing as a whole word: not inside a longer run of
 * letters, digits or `_`. Unlike `\b`, this holds for names that begin or end in punctuation
 * ("GPT-4o", "C++"). Callers order the sources (longest first where one may contain another: an
 * alternation takes the first that matches). Null when there is nothing to find.
 */
export function wholeWords(sources: readonly string[], flags: string): RegExp | null {
  const given = sources.filter(Boolean);
  return given.length ? new RegExp(`(?<![\\p{L}\\p{N}_])(?:${given.join('|')})(?![\\p{L}\\p{N}_])`, flags) : null;
}

// Redacting a recorded model request by who said what: the recorded `shown` map says where each
// person's name and words stand in the request, so they are replaced exactly there — however their
// name was spelled when the request was built, however short their words. Pure.
import type { ShownMessage } from './shown.ts';

export interface SpanDecision {
  /** Replacement for the person's words, or undefined to keep them. */
  text?: string;
  /** Replacement for their name, or undefined to keep it. */
  name?: string;
  /** Drop the images of their attachments. */
  dropImages?: boolean;
}

type Json = unknown;

function parsePointer(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(root: Json, keys: readonly string[]): Json {
  return keys.reduce<Json>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, Json>)[k] : undefined), root);
}

/** Returns a copy of `body` with each shown message's spans replaced as `decide` says. */
export function redactShown(body: Json, shown: readonly ShownMessage[], decide: (m: ShownMessage) => SpanDecision): Json {
  const out = structuredClone(body);
  const edits = new Map<string, { start: number; end: number; with: string }[]>();
  const drops: string[][] = [];
  for (const m of shown) {
    const d = decide(m);
    for (const s of m.spans) {
      const replacement = s.part === 'text' ? d.text : d.name;
      if (replacement === undefined) continue;
      const list = edits.get(s.path) ?? [];
      list.push({ start: s.start, end: s.end, with: replacement });
      edits.set(s.path, list);
    }
    if (d.dropImages) for (const p of m.images) drops.push(parsePointer(p));
  }
  for (const [path, list] of edits) {
    const keys = parsePointer(path);
    const parent = getAt(out, keys.slice(0, -1));
    const key = keys.at(-1)!;
    const current = (parent as Record<string, Json> | undefined)?.[key];
    if (typeof current !== 'string') continue;
    let text = current;
    // From the end backwards, so earlier offsets stay true.
    for (const e of list.sort((a, b) => b.start - a.start)) text = text.slice(0, e.start) + e.with + text.slice(e.end);
    (parent as Record<string, Json>)[key] = text;
  }
  // Image parts removed last, highest index first within each array.
  for (const keys of drops.sort((a, b) => Number(b.at(-1)) - Number(a.at(-1)))) {
    const parent = getAt(out, keys.slice(0, -1));
    if (Array.isArray(parent)) parent.splice(Number(keys.at(-1)), 1);
  }
  return out;
}

// Prepares a session's events for export: people become stable pseudonyms, and the words of
// anyone who opted out are withheld everywhere they appear, including inside the exact requests
// later sent to models that quoted them. Pure: returns new events, never touches its input.
import type { RequestBody } from '../requests.ts';
import type { ModelTurn, Participant, TranscriptEvent } from './events.ts';

export const WITHHELD = '[withheld: this participant opted out]';
const FILE_WITHHELD = '[file withheld]';

export interface ExportPrivacy {
  /** User ids of people who opted out (RecordStore.optedOut()). */
  optedOut: ReadonlySet<string>;
  /** Replace every person's name and user id by a pseudonym (default true). Opted-out people always are. */
  pseudonymise?: boolean;
}

/** Texts shorter than this are only withheld where they stand as a whole line (or after `Name: `), not inside other words. */
const SHORT_TEXT = 16;
/** context.ts clips a message to this many characters before a model reads it. */
const CLIP = 4000;
/** Keys of a request body whose strings are identifiers, never conversation. */
const FIXED_KEYS = new Set(['model', 'role', 'type', 'provider']);

interface Person {
  key: string;
  userId?: string;
  names: Set<string>;
  index: number;
  optedOut: boolean;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function personKey(p: { userId?: string; name: string }): string {
  return p.userId ?? `name:${p.name}`;
}

/** Every human in order of first appearance. */
function collectPeople(events: readonly TranscriptEvent[], optedOut: ReadonlySet<string>): Map<string, Person> {
  const people = new Map<string, Person>();
  const see = (p: { userId?: string; name: string }) => {
    const key = personKey(p);
    let person = people.get(key);
    if (!person) {
      person = { key, userId: p.userId, names: new Set(), index: people.size + 1, optedOut: p.userId !== undefined && optedOut.has(p.userId) };
      people.set(key, person);
    }
    if (p.name.trim()) person.names.add(p.name);
  };
  const seeParticipant = (p: Participant | undefined) => {
    if (p?.kind === 'human') see(p);
  };
  for (const e of events) {
    if (e.type === 'session_started' && e.interviewer?.kind === 'human') see(e.interviewer);
    else if (e.type === 'question') seeParticipant(e.askedBy);
    else if (e.type === 'channel_message') seeParticipant(e.author);
    else if (e.type === 'session_paused' || e.type === 'session_resumed') seeParticipant(e.by);
  }
  return people;
}

export const pseudonym = (index: number) => `Participant ${index}`;
export const pseudonymId = (index: number) => `participant-${index}`;

/**
 * Returns new events ready for any exporter:
 * - with `pseudonymise` (the default), every human (channel authors, question askers, a human
 *   interviewer, whoever paused or resumed) becomes "Participant N" / "participant-N", numbered by
 *   first appearance in the session; their names and `<@id>` mentions in any text become the pseudonym;
 * - an opted-out person is always pseudonymised, and their words — their messages, questions, and
 *   edits of their messages — become WITHHELD wherever they appear: in their own events, in answers
 *   that quote them, and in the request bodies of later model turns (`Name: text` and bare forms,
 *   any request shape); their attachments are dropped, and image parts whose URL names one of
 *   their files are removed from requests.
 * Names are matched whole and by their parts ("Bob" for "Bob Marley"), case-sensitively.
 * Persona names are never changed. A human whose display name equals a persona's keeps it in free text.
 * Limits: a withheld text shorter than SHORT_TEXT characters is replaced only where it stands as a
 * whole line or after `Name: `, so that a "yes" of theirs does not erase every "yes" of others;
 * text a model paraphrased rather than quoted cannot be found.
 */
export function prepareForExport(events: readonly TranscriptEvent[], privacy: ExportPrivacy): TranscriptEvent[] {
  const pseudonymise = privacy.pseudonymise ?? true;
  const people = collectPeople(events, privacy.optedOut);
  const renamed = (p: Person) => pseudonymise || p.optedOut;
  const personaNames = new Set<string>();
  for (const e of events) {
    if (e.type === 'session_started') for (const r of e.roster) personaNames.add(r.name);
    if (e.type === 'answer') personaNames.add(e.persona.name);
    if ((e.type === 'question' || e.type === 'channel_message') && (e.type === 'question' ? e.askedBy : e.author).kind === 'persona') {
      const p = e.type === 'question' ? e.askedBy : e.author;
      if (p.kind === 'persona') personaNames.add(p.name);
    }
  }

  // What an opted-out person wrote, and the messages that are theirs.
  const withheldTexts = new Set<string>();
  const withheldFiles = new Set<string>();
  const theirMessageIds = new Set<string>();
  const isOptedOut = (p: Participant | undefined) => p?.kind === 'human' && people.get(personKey(p))?.optedOut === true;
  for (const e of events) {
    if (e.type === 'question' && isOptedOut(e.askedBy)) {
      withheldTexts.add(e.text);
      if (e.discordMessageId) theirMessageIds.add(e.discordMessageId);
    }
    if (e.type === 'channel_message' && isOptedOut(e.author)) {
      withheldTexts.add(e.text);
      theirMessageIds.add(e.discordMessageId);
      for (const a of e.attachments ?? []) withheldFiles.add(a.name);
    }
  }
  for (const e of events) if (e.type === 'message_edited' && theirMessageIds.has(e.discordMessageId)) withheldTexts.add(e.text);
  const variants = [...withheldTexts]
    .filter((t) => t.trim())
    .flatMap((t) => (t.length > CLIP ? [t, t.slice(0, CLIP)] : [t]))
    .sort((a, b) => b.length - a.length);

  const optedOutPeople = [...people.values()].filter((p) => p.optedOut);
  const nameToPseudonym = new Map<string, string>();
  for (const p of people.values()) {
    if (!renamed(p)) continue;
    for (const n of p.names) if (!personaNames.has(n)) nameToPseudonym.set(n, pseudonym(p.index));
  }
  // Models address people by a part of their name ("Thank you, Bob"): each part of two letters
  // or more stands for the person too, unless it is a whole name or a persona's name.
  for (const p of people.values()) {
    if (!renamed(p)) continue;
    for (const n of p.names)
      for (const part of n.split(/[\s._-]+/u))
        if (part.length >= 2 && part !== n && !personaNames.has(part) && !nameToPseudonym.has(part)) nameToPseudonym.set(part, pseudonym(p.index));
  }
  const names = [...nameToPseudonym.keys()].sort((a, b) => b.length - a.length);
  const nameRe = names.length ? new RegExp(`(?<![\\p{L}\\p{N}_])(?:${names.map(escape).join('|')})(?![\\p{L}\\p{N}_])`, 'gu') : null;
  const mentionIds = new Map<string, string>();
  for (const p of people.values()) if (renamed(p) && p.userId) mentionIds.set(p.userId, pseudonym(p.index));

  const scrub = (s: string): string => {
    let out = s;
    // `Name: text` first, so the speaker label goes with the words.
    for (const p of optedOutPeople)
      for (const n of p.names) for (const t of variants) out = out.split(`${n}: ${t}`).join(`${pseudonym(p.index)}: ${WITHHELD}`);
    for (const t of variants) {
      if (t.length >= SHORT_TEXT) out = out.split(t).join(WITHHELD);
      else out = out.replace(new RegExp(`(?<=^|\\n|: )${escape(t)}(?=\\n|$)`, 'g'), WITHHELD);
    }
    for (const f of withheldFiles) out = out.split(`[image: ${f}]`).join(FILE_WITHHELD).split(`[file: ${f}]`).join(FILE_WITHHELD);
    if (nameRe) out = out.replace(nameRe, (n) => nameToPseudonym.get(n) ?? n);
    if (mentionIds.size) out = out.replace(/<@!?(\d+)>/g, (m, id: string) => (mentionIds.has(id) ? `@${mentionIds.get(id)}` : m));
    return out;
  };

  const isWithheldImage = (v: unknown): boolean => {
    if (!withheldFiles.size || typeof v !== 'object' || v === null) return false;
    const o = v as { type?: unknown; source?: { url?: unknown }; image_url?: { url?: unknown } };
    const url = o.type === 'image' ? o.source?.url : o.type === 'image_url' ? o.image_url?.url : undefined;
    if (typeof url !== 'string') return false;
    const path = url.split('?')[0] ?? '';
    return [...withheldFiles].some((f) => path.endsWith(`/${f}`) || path.endsWith(`/${encodeURIComponent(f)}`));
  };
  const scrubJson = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return key !== undefined && FIXED_KEYS.has(key) ? v : scrub(v);
    if (Array.isArray(v)) return v.filter((x) => !isWithheldImage(x)).map((x) => scrubJson(x));
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'url' ? x : scrubJson(x, k)]));
    return v;
  };
  const scrubTurn = (t: ModelTurn): ModelTurn => ({ ...t, request: scrubJson(t.request) as RequestBody, fallbacks: t.fallbacks.map((f) => ({ ...f })) });

  const participant = <P extends Participant | undefined>(p: P): P => {
    if (!p || p.kind !== 'human') return p ? ({ ...p } as P) : p;
    const person = people.get(personKey(p))!;
    if (!renamed(person)) return { ...p } as P;
    return { kind: 'human', userId: pseudonymId(person.index), name: pseudonym(person.index) } as P;
  };

  return events.map((e): TranscriptEvent => {
    switch (e.type) {
      case 'session_started': {
        const out = structuredClone(e);
        if (e.interviewer?.kind === 'human') {
          const person = people.get(personKey(e.interviewer))!;
          if (renamed(person))
            out.interviewer = { kind: 'human', ...(e.interviewer.userId === undefined ? {} : { userId: pseudonymId(person.index) }), name: pseudonym(person.index) };
        }
        return out;
      }
      case 'disclosure':
        return { ...e, text: scrub(e.text) };
      case 'question':
        return {
          ...structuredClone(e),
          askedBy: participant(e.askedBy),
          text: isOptedOut(e.askedBy) ? WITHHELD : scrub(e.text),
          ...(e.modelTurn ? { modelTurn: scrubTurn(e.modelTurn) } : {}),
        };
      case 'answer':
        return { ...structuredClone(e), text: scrub(e.text), modelTurn: scrubTurn(e.modelTurn) };
      case 'notice':
        return { ...structuredClone(e), text: scrub(e.text) };
      case 'error':
        return { ...structuredClone(e), message: scrub(e.message) };
      case 'session_paused':
      case 'session_resumed':
        return e.by ? { ...e, by: participant(e.by) } : { ...e };
      case 'channel_message': {
        const { attachments, ...rest } = structuredClone(e);
        const turn = e.modelTurn ? { modelTurn: scrubTurn(e.modelTurn) } : {};
        if (isOptedOut(e.author)) return { ...rest, ...turn, author: participant(e.author), text: WITHHELD };
        return { ...rest, ...turn, author: participant(e.author), text: scrub(e.text), ...(attachments ? { attachments } : {}) };
      }
      case 'message_edited':
        return { ...e, text: theirMessageIds.has(e.discordMessageId) ? WITHHELD : scrub(e.text) };
      default:
        return structuredClone(e);
    }
  });
}

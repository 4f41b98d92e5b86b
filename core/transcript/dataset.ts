// Writing transcripts: every export of a session from the same records, always through redaction
// (pseudonyms, opt-outs) first, and always through its target's rules after: a file that breaks them
// (or whose exporter fails) is never written or attached; the caller gets the file and the reasons.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { inspectListing, inspectLogFileName, toInspectLog, validateInspectLog } from './export-inspect.ts';
import { toJsonl } from './export-jsonl.ts';
import { toMarkdown } from './export-markdown.ts';
import { toResearchCommons, uuidV5, validateSubmission } from './export-research-commons.ts';
import { prepareForExport } from './redact.ts';
import { usageByPersona, type TranscriptEvent } from './events.ts';
import type { SessionRow } from './store.ts';

export interface SessionFiles {
  jsonl: string;
  markdown: string;
  inspect: object;
  researchCommons: object;
}
export type ExportKind = keyof SessionFiles;
export interface ExportFile {
  name: string;
  text: string;
}
/** An export not written: which file, for which target, and every rule it broke. */
export interface Refusal {
  kind: ExportKind;
  name: string;
  target: string;
  problems: string[];
}

export const TARGETS: Record<ExportKind, string> = { jsonl: 'JSONL (schema/transcript-event.schema.json)', markdown: 'Markdown', inspect: 'Inspect eval log', researchCommons: 'Research Commons' };

/**
 * Every export of one session, from the same (redacted) records. Pure but for the export's random
 * salt, which also seeds the Research Commons message ids: each export gets its own (the server keys
 * some tables by message id alone, so two uploads of one file would collide). Not validated: use
 * exportFiles.
 */
export function sessionExports(events: readonly TranscriptEvent[], optedOut: Set<string>, salt: string = randomBytes(16).toString('hex')): SessionFiles {
  const prepared = prepareForExport(events, { optedOut, pseudonymise: true, salt });
  return {
    jsonl: toJsonl(prepared),
    markdown: toMarkdown(prepared),
    inspect: toInspectLog(prepared),
    researchCommons: toResearchCommons(prepared, { namespace: uuidV5(`export/${salt}`) }),
  };
}

/**
 * The file each export of a session is written to. Inspect's is named as Inspect names its own logs
 * (see inspectLogFileName), or its viewer does not list it; this one stands in when no log was made.
 */
export function exportFileNames(sessionId: string): Record<ExportKind, string> {
  return { jsonl: `${sessionId}.jsonl`, markdown: `${sessionId}.md`, inspect: `${sessionId}.inspect.json`, researchCommons: `${sessionId}.research-commons.json` };
}

// JSONL lines are checked against the published schema itself (zod reads JSON Schema; ajv, which the
// tests use, is a development dependency only): one schema per event type, so a problem is named by
// its field. Built on first use.
let eventSchemas: Map<string, z.ZodType> | undefined;
function transcriptEventSchemas(): Map<string, z.ZodType> {
  if (eventSchemas) return eventSchemas;
  type Variant = { properties: { type: { const?: string; enum?: string[] } } };
  const { oneOf, $defs, $schema } = JSON.parse(readFileSync(new URL('../../schema/transcript-event.schema.json', import.meta.url), 'utf8')) as { oneOf: Variant[]; $defs: unknown; $schema: string };
  eventSchemas = new Map();
  for (const variant of oneOf) {
    const schema = z.fromJSONSchema({ $schema, $defs, ...variant } as Parameters<typeof z.fromJSONSchema>[0]);
    const t = variant.properties.type;
    for (const type of t.const !== undefined ? [t.const] : (t.enum ?? [])) eventSchemas.set(type, schema);
  }
  return eventSchemas;
}

/** Each line's problems against schema/transcript-event.schema.json (at most 20 reported). */
export function validateJsonl(text: string): string[] {
  const schemas = transcriptEventSchemas();
  const problems: string[] = [];
  const lines = text.split('\n');
  if (lines.pop() !== '') problems.push('the file must end with a newline');
  lines.forEach((line, i) => {
    if (problems.length >= 20) return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return void problems.push(`line ${i + 1}: not JSON`);
    }
    const type = (event as { type?: unknown } | null)?.type;
    const schema = schemas.get(String(type));
    if (!schema) return void problems.push(`line ${i + 1}: event type ${JSON.stringify(type)} is not in the schema`);
    const r = schema.safeParse(event);
    if (!r.success) problems.push(`line ${i + 1} (${String(type)}): ${r.error.issues.slice(0, 3).map((x) => `${x.path.join('.') || '(event)'}: ${x.message}`).join('; ')}`);
  });
  return problems;
}

/** Markdown has no external reader to satisfy: a titled document with nothing unprintable in it. */
export function validateMarkdown(text: string): string[] {
  return [...(text.startsWith('# ') ? [] : ['the document must start with its title (# …)']), ...(text.includes('[object Object]') ? ['an object was written as [object Object]'] : [])];
}

/**
 * Every export of a session as named files, each checked against its target's rules: `files` holds
 * only those that pass; `refused` says which did not, and why (an exporter that throws is refused too).
 */
export function exportFiles(sessionId: string, events: readonly TranscriptEvent[], optedOut: Set<string>, opts: { salt?: string; kinds?: readonly ExportKind[] } = {}): { files: Partial<Record<ExportKind, ExportFile>>; refused: Refusal[] } {
  const salt = opts.salt ?? randomBytes(16).toString('hex');
  const prepared = prepareForExport(events, { optedOut, pseudonymise: true, salt });
  const names = exportFileNames(sessionId);
  const makers: Record<ExportKind, () => { text: string; problems: string[]; name?: string }> = {
    jsonl: () => {
      const text = toJsonl(prepared);
      return { text, problems: validateJsonl(text) };
    },
    markdown: () => {
      const text = toMarkdown(prepared);
      return { text, problems: validateMarkdown(text) };
    },
    inspect: () => {
      const log = toInspectLog(prepared);
      const text = JSON.stringify(log, null, 2);
      return { text, problems: validateInspectLog(JSON.parse(text)), name: inspectLogFileName(log) };
    },
    researchCommons: () => {
      const rc = toResearchCommons(prepared, { namespace: uuidV5(`export/${salt}`) });
      const text = JSON.stringify(rc, null, 2);
      return { text, problems: validateSubmission(JSON.parse(text).submission) };
    },
  };
  const files: Partial<Record<ExportKind, ExportFile>> = {};
  const refused: Refusal[] = [];
  for (const kind of opts.kinds ?? (Object.keys(makers) as ExportKind[])) {
    let made: { text: string; problems: string[]; name?: string };
    try {
      made = makers[kind]();
    } catch (err) {
      made = { text: '', problems: [`the exporter failed: ${err instanceof Error ? err.message : String(err)}`] };
    }
    const name = made.name ?? names[kind];
    if (made.problems.length) refused.push({ kind, name, target: TARGETS[kind], problems: made.problems });
    else files[kind] = { name, text: made.text };
  }
  return { files, refused };
}

/** Refusals in a few lines for a person (a Discord reply, a console): each file, its target, its first problems. */
export function describeRefusals(refused: readonly Refusal[], maxChars = 1200): string {
  const text = refused.map((r) => `${r.name} was not written: it breaks ${r.target}'s rules (${r.problems.length}): ${r.problems.slice(0, 3).join('; ')}${r.problems.length > 3 ? '; …' : ''}`).join('\n');
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

/** Writes the exports that pass their rules; returns what was written and what was refused, and why. */
export async function writeSessionExports(dir: string, sessionId: string, events: readonly TranscriptEvent[], optedOut: Set<string>): Promise<{ written: string[]; refused: Refusal[] }> {
  const { files, refused } = exportFiles(sessionId, events, optedOut);
  const written = Object.values(files);
  for (const f of written) await writeFile(join(dir, f.name), f.text);
  return { written: written.map((f) => f.name), refused };
}

/**
 * `index.json` (one entry per session: the files that passed their rules, and those refused with
 * why) and Inspect's `listing.json` (the logs that passed) beside the transcripts.
 */
export async function writeCampaignIndex(dir: string, campaignId: string, sessions: { session: SessionRow; events: readonly TranscriptEvent[] }[], optedOut: Set<string> = new Set()): Promise<void> {
  const checked = sessions.map(({ session, events }) => ({ session, events, ...exportFiles(session.id, events, optedOut) }));
  const index = {
    campaign: campaignId,
    sessions: checked.map(({ session, events, files, refused }) => {
      const header = events.find((e) => e.type === 'session_started');
      const ended = events.find((e) => e.type === 'session_ended');
      return {
        id: session.id,
        status: session.status,
        cell: header?.type === 'session_started' ? header.campaign : undefined,
        personas: header?.type === 'session_started' ? header.roster.map((r) => r.personaId) : [],
        interviewer: header?.type === 'session_started' ? header.interviewer : undefined,
        questions: events.filter((e) => e.type === 'question').length,
        answers: events.filter((e) => e.type === 'answer').length,
        ended: ended?.type === 'session_ended' ? ended.reason : null,
        usage: usageByPersona(events),
        files: Object.values(files).map((f) => f.name),
        ...(refused.length ? { refused: refused.map(({ name, target, problems }) => ({ file: name, target, problems })) } : {}),
      };
    }),
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index, null, 2));
  const logs = checked.flatMap(({ files }) => (files.inspect ? [{ file: files.inspect.name, log: JSON.parse(files.inspect.text) }] : []));
  await writeFile(join(dir, 'listing.json'), JSON.stringify(inspectListing(logs), null, 2));
}

/**
 * A re-run beside its original: for each question, every answer from both sessions, with the model,
 * host and temperature that produced it. Markdown, from redacted records. Pure.
 */
export function sideBySide(original: readonly TranscriptEvent[], rerun: readonly TranscriptEvent[], optedOut: Set<string>): string {
  const a = prepareForExport(original, { optedOut, pseudonymise: true });
  const b = prepareForExport(rerun, { optedOut, pseudonymise: true });
  const questions = (events: readonly TranscriptEvent[]) => events.filter((e) => e.type === 'question');
  const answersTo = (events: readonly TranscriptEvent[], questionId: string) =>
    events.flatMap((e) => (e.type === 'answer' && e.questionId === questionId ? [e] : []));
  const describe = (e: Extract<TranscriptEvent, { type: 'answer' }>) => {
    const body = e.modelTurn.request.body as { temperature?: number };
    return `**${e.persona.name}** — \`${e.modelTurn.answeredModel}\` via ${e.modelTurn.host.label}${body.temperature === undefined ? '' : `, temperature ${body.temperature}`}\n\n${e.text}`;
  };
  const title = (events: readonly TranscriptEvent[]) => {
    const h = events.find((e) => e.type === 'session_started');
    return h?.type === 'session_started' ? `${h.sessionId} (${h.roster.map((r) => r.name).join(', ')})` : '?';
  };
  const out = [`# Side by side`, '', `- **A:** ${title(a)}`, `- **B:** ${title(b)}`, ''];
  const qa = questions(a);
  const qb = questions(b);
  for (let i = 0; i < Math.max(qa.length, qb.length); i++) {
    const q = qa[i] ?? qb[i];
    if (!q || q.type !== 'question') continue;
    out.push(`## Question ${i + 1}`, '', `> ${q.text}`, '');
    out.push('### A', '', ...(qa[i] ? answersTo(a, qa[i]!.id).map(describe) : ['*(not asked)*']), '');
    out.push('### B', '', ...(qb[i] ? answersTo(b, qb[i]!.id).map(describe) : ['*(not asked)*']), '');
  }
  return `${out.join('\n')}\n`;
}

// Writing transcripts to disk: every export of a session from the same records, always through
// redaction (pseudonyms, opt-outs) first.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toInspectLog, inspectListing } from './export-inspect.ts';
import { toJsonl } from './export-jsonl.ts';
import { toMarkdown } from './export-markdown.ts';
import { toResearchCommons } from './export-research-commons.ts';
import { prepareForExport } from './redact.ts';
import { usageByPersona, type TranscriptEvent } from './events.ts';
import type { SessionRow } from './store.ts';

export interface SessionFiles {
  jsonl: string;
  markdown: string;
  inspect: object;
  researchCommons: object;
}

/** Every export of one session, from the same (redacted) records. Pure but for the export's random salt. */
export function sessionExports(events: readonly TranscriptEvent[], optedOut: Set<string>, salt?: string): SessionFiles {
  const prepared = prepareForExport(events, { optedOut, pseudonymise: true, ...(salt ? { salt } : {}) });
  return {
    jsonl: toJsonl(prepared),
    markdown: toMarkdown(prepared),
    inspect: toInspectLog(prepared),
    researchCommons: toResearchCommons(prepared, {}),
  };
}

/** The file each export of a session is written to. */
export function exportFileNames(sessionId: string): Record<keyof SessionFiles, string> {
  return { jsonl: `${sessionId}.jsonl`, markdown: `${sessionId}.md`, inspect: `${sessionId}.inspect.json`, researchCommons: `${sessionId}.research-commons.json` };
}

/** Every export of a session as named files, ready to write or attach. Pure. */
export function exportFiles(sessionId: string, events: readonly TranscriptEvent[], optedOut: Set<string>): Record<keyof SessionFiles, { name: string; text: string }> {
  const files = sessionExports(events, optedOut);
  const names = exportFileNames(sessionId);
  return {
    jsonl: { name: names.jsonl, text: files.jsonl },
    markdown: { name: names.markdown, text: files.markdown },
    inspect: { name: names.inspect, text: JSON.stringify(files.inspect, null, 2) },
    researchCommons: { name: names.researchCommons, text: JSON.stringify(files.researchCommons, null, 2) },
  };
}

export async function writeSessionExports(dir: string, sessionId: string, events: readonly TranscriptEvent[], optedOut: Set<string>): Promise<string[]> {
  const files = Object.values(exportFiles(sessionId, events, optedOut));
  for (const f of files) await writeFile(join(dir, f.name), f.text);
  return files.map((f) => f.name);
}

/** `index.json` (one entry per session) and Inspect's `listing.json` beside the transcripts. */
export async function writeCampaignIndex(dir: string, campaignId: string, sessions: { session: SessionRow; events: readonly TranscriptEvent[] }[]): Promise<void> {
  const index = {
    campaign: campaignId,
    sessions: sessions.map(({ session, events }) => {
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
        files: Object.values(exportFileNames(session.id)),
      };
    }),
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index, null, 2));
  const logs = sessions.map(({ session, events }) => ({ file: exportFileNames(session.id).inspect, log: toInspectLog(prepareForExport(events, { optedOut: new Set(), pseudonymise: true })) }));
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

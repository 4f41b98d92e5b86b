// The viewer's index: one row per session (protocol, personas, mode, status, date) and one per
// headless campaign, from the sessions table and each session's header event. Pure.
import type { EventOf, TranscriptEvent } from '../core/transcript/events.ts';
import type { SessionRow } from '../core/transcript/store.ts';

export interface SessionListRow {
  id: string;
  title: string;
  kind: SessionRow['kind'];
  status: SessionRow['status'];
  createdAt: string;
  protocol?: string;
  personas: string[];
  mode?: string;
  interviewer?: string;
  campaignId?: string;
  questions: number;
  answers: number;
}

export interface CampaignRow {
  id: string;
  sessions: number;
  ended: number;
  protocols: string[];
  personas: string[];
  firstAt: string;
  lastAt: string;
}

export function interviewerLabel(i: EventOf<'session_started'>['interviewer']): string | undefined {
  if (!i) return undefined;
  return i.kind === 'human' ? `${i.name} (human)` : `${i.persona.name} (auditor)`;
}

export function sessionRow(session: SessionRow, events: readonly TranscriptEvent[]): SessionListRow {
  const header = events.find((e): e is EventOf<'session_started'> => e.type === 'session_started');
  const interviewer = interviewerLabel(header?.interviewer);
  return {
    id: session.id,
    title: session.title,
    kind: session.kind,
    status: session.status,
    createdAt: session.createdAt,
    ...(header?.protocol ? { protocol: header.protocol.id } : {}),
    personas: header?.roster.map((r) => r.name) ?? [],
    ...(header?.mode ? { mode: header.mode } : {}),
    ...(interviewer ? { interviewer } : {}),
    ...(session.campaignId ? { campaignId: session.campaignId } : {}),
    questions: events.filter((e) => e.type === 'question').length,
    answers: events.filter((e) => e.type === 'answer').length,
  };
}

/** Sessions grouped by campaign, newest campaign first. */
export function campaignRows(rows: readonly SessionListRow[]): CampaignRow[] {
  const groups = new Map<string, SessionListRow[]>();
  for (const r of rows) if (r.campaignId) groups.set(r.campaignId, [...(groups.get(r.campaignId) ?? []), r]);
  return [...groups]
    .map(([id, list]) => {
      const dates = list.map((r) => r.createdAt).sort();
      return {
        id,
        sessions: list.length,
        ended: list.filter((r) => r.status === 'ended').length,
        protocols: [...new Set(list.flatMap((r) => (r.protocol ? [r.protocol] : [])))],
        personas: [...new Set(list.flatMap((r) => r.personas))],
        firstAt: dates[0] ?? '',
        lastAt: dates.at(-1) ?? '',
      };
    })
    .sort((a, b) => b.lastAt.localeCompare(a.lastAt));
}

/** Newest first, as a researcher looks for the run they just made. */
export const newestFirst = (rows: SessionListRow[]): SessionListRow[] => [...rows].sort((a, b) => b.createdAt.localeCompare(a.createdAt));

// The raw export: one transcript event per line, exactly as recorded (after prepareForExport).
// Each line validates against schema/transcript-event.schema.json. Also the session header the
// other exporters share. Pure.
import { TRANSCRIPT_FORMAT_VERSION, type Interviewer, type RosterEntry, type TranscriptEvent } from './events.ts';

export function toJsonl(events: readonly TranscriptEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** What identifies a session for a reader of any export: who was asked what, by whom, how. */
export interface SessionHeader {
  sessionId: string;
  kind: 'interview' | 'channel';
  startedAt: string;
  chorusVersion: string;
  transcriptFormat: number;
  protocol?: { id: string; title: string; purpose: string; text: string; sha256: string };
  mode?: 'sequential' | 'blind';
  interviewer?: Interviewer;
  roster: RosterEntry[];
  discord?: { guildId?: string; channelId: string; threadId?: string };
  rerunOf?: { sessionId: string; changes: string };
  campaign?: { id: string; cell: string; repeat: number };
  disclosure?: string;
  /** Whether the models were given the disclosure too, or only the people. */
  disclosureToModels?: boolean;
}

export function sessionHeader(events: readonly TranscriptEvent[]): SessionHeader {
  const start = events.find((e) => e.type === 'session_started');
  if (!start || start.type !== 'session_started') throw new Error('a session export needs its session_started event');
  const disclosure = events.find((e) => e.type === 'disclosure');
  return {
    sessionId: start.sessionId,
    kind: start.kind,
    startedAt: start.at,
    chorusVersion: start.chorusVersion,
    transcriptFormat: start.v ?? TRANSCRIPT_FORMAT_VERSION,
    ...(start.protocol ? { protocol: start.protocol } : {}),
    ...(start.mode ? { mode: start.mode } : {}),
    ...(start.interviewer ? { interviewer: start.interviewer } : {}),
    roster: start.roster,
    ...(start.discord ? { discord: start.discord } : {}),
    ...(start.rerunOf ? { rerunOf: start.rerunOf } : {}),
    ...(start.campaign ? { campaign: start.campaign } : {}),
    ...(disclosure?.type === 'disclosure' ? { disclosure: disclosure.text, disclosureToModels: disclosure.toModels } : {}),
  };
}

/** `provider/model`, the form Inspect uses and every chorus export names a model by. */
export function modelName(provider: string, model: string): string {
  return model.startsWith(`${provider}/`) ? model : `${provider}/${model}`;
}

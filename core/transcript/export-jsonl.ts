// The raw export: one transcript event per line, exactly as recorded (after prepareForExport).
// Each line validates against schema/transcript-event.schema.json. Also the session header the
// other exporters share. Pure.
import { TRANSCRIPT_FORMAT_VERSION, type EventOf, type TranscriptEvent } from './events.ts';

export function toJsonl(events: readonly TranscriptEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** What identifies a session for a reader of any export: who was asked what, by whom, how. */
export type SessionHeader = Omit<EventOf<'session_started'>, 'v' | 'id' | 'seq' | 'at' | 'type'> & {
  startedAt: string;
  transcriptFormat: number;
  disclosure?: string;
  /** Whether the models were given the disclosure too, or only the people. */
  disclosureToModels?: boolean;
};

export function sessionHeader(events: readonly TranscriptEvent[]): SessionHeader {
  const start = events.find((e) => e.type === 'session_started');
  if (!start || start.type !== 'session_started') throw new Error('a session export needs its session_started event');
  const disclosure = events.find((e) => e.type === 'disclosure');
  const { v, id: _id, seq: _seq, at, type: _type, ...header } = start;
  return {
    ...header,
    startedAt: at,
    transcriptFormat: v ?? TRANSCRIPT_FORMAT_VERSION,
    ...(disclosure?.type === 'disclosure' ? { disclosure: disclosure.text, disclosureToModels: disclosure.toModels } : {}),
  };
}

/** `provider/model`, the form Inspect uses and every chorus export names a model by. */
export function modelName(provider: string, model: string): string {
  return model.startsWith(`${provider}/`) ? model : `${provider}/${model}`;
}

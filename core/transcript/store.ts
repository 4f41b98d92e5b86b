// The record store: where transcripts live. Research data outlives any queue, so records go to a
// real database — an SQLite file by default (node:sqlite), PostgreSQL when DATABASE_URL is set —
// never to the queue's Redis. One small interface; both implementations are tested on real engines.
import type { EventOf, TranscriptEvent } from './events.ts';

export interface SessionRow {
  id: string;
  kind: 'interview' | 'channel';
  status: 'running' | 'paused' | 'ended';
  title: string;
  guildId?: string;
  /** The Discord thread or channel the session lives in, if any. */
  channelId?: string;
  campaignId?: string;
  createdAt: string;
  updatedAt: string;
  /** Orchestration state (JSON): which question comes next, and so on. Events stay the source of truth. */
  state: Record<string, unknown>;
}

export interface RecordStore {
  /** Applies pending schema migrations; safe to run on every start and from several processes. */
  migrate(): Promise<void>;
  /** Creates the session; false (and nothing changed) when one with that id exists. */
  createSession(row: Omit<SessionRow, 'createdAt' | 'updatedAt'> & { createdAt?: string }): Promise<boolean>;
  updateSession(id: string, patch: Partial<Pick<SessionRow, 'status' | 'state' | 'title'>>): Promise<void>;
  session(id: string): Promise<SessionRow | undefined>;
  sessions(filter?: { kind?: SessionRow['kind']; status?: SessionRow['status']; channelId?: string; campaignId?: string }): Promise<SessionRow[]>;
  /**
   * Records an event. Idempotent on `event.id`: writing it again (a retried job) changes nothing and
   * returns the first write's position. Positions (`seq`) increase by one per session, with no gaps,
   * even when several processes write to one session at once.
   */
  append(event: TranscriptEvent): Promise<{ inserted: boolean; seq: number }>;
  /**
   * Records a question, numbering it among the session's questions (1, 2, …) in the same
   * transaction that gives it its position: two questions asked at once get two numbers, in order,
   * and neither is lost. Idempotent on `event.id` like `append` (a repeat returns the first number).
   */
  appendQuestion(event: Omit<EventOf<'question'>, 'index'>): Promise<{ inserted: boolean; seq: number; index: number }>;
  /** A session's events in order, each with its `seq`. */
  events(sessionId: string): Promise<TranscriptEvent[]>;
  /** Opt-out is per person and applies to every export, past and future. */
  setOptOut(userId: string, optedOut: boolean, at: string): Promise<void>;
  optedOut(): Promise<Set<string>>;
  close(): Promise<void>;
}

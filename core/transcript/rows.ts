// The sessions table's columns as a SessionRow, shared by both engines: SQLite hands back text,
// PostgreSQL Date objects and parsed JSON.
import type { RecordStore, SessionRow } from './store.ts';

export type Row = Record<string, unknown>;
export type SessionFilter = Parameters<RecordStore['sessions']>[0];

/** Timestamps are stored and returned as `toISOString()` text on both engines. */
export const iso = (at: string | Date): string => {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) throw new Error(`not a timestamp: ${String(at)}`);
  return d.toISOString();
};

export function sessionFromRow(r: Row): SessionRow {
  return {
    id: r.id as string,
    kind: r.kind as SessionRow['kind'],
    status: r.status as SessionRow['status'],
    title: r.title as string,
    ...(r.guild_id == null ? {} : { guildId: r.guild_id as string }),
    ...(r.channel_id == null ? {} : { channelId: r.channel_id as string }),
    ...(r.campaign_id == null ? {} : { campaignId: r.campaign_id as string }),
    createdAt: iso(r.created_at as string | Date),
    updatedAt: iso(r.updated_at as string | Date),
    state: (typeof r.state === 'string' ? JSON.parse(r.state) : r.state) as Record<string, unknown>,
  };
}

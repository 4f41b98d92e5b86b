// The playground's and the viewer's own settings, read from the environment with a plain answer for
// a bad value. Pure.

export interface WebSettings {
  host: string;
  port: number;
}

export interface PlaygroundSettings extends WebSettings {
  /** The playground's own SQLite file: dry runs stay out of the research database. */
  recordsPath: string;
}

export type ViewerSource = { kind: 'postgres'; url: string; label: string } | { kind: 'sqlite'; path: string; label: string };

function port(env: Record<string, string | undefined>, name: string, fallback: number): number | string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) return `${name} must be a port number (0–65535), not "${raw.slice(0, 20)}"`;
  return n;
}

export function playgroundSettings(env: Record<string, string | undefined>): PlaygroundSettings | { error: string } {
  const p = port(env, 'PLAYGROUND_PORT', 4800);
  if (typeof p === 'string') return { error: p };
  return { host: env.PLAYGROUND_HOST || '127.0.0.1', port: p, recordsPath: env.PLAYGROUND_RECORDS_PATH || 'data/playground.sqlite' };
}

export function viewerSettings(env: Record<string, string | undefined>): (WebSettings & { source: ViewerSource }) | { error: string } {
  const p = port(env, 'VIEWER_PORT', 4801);
  if (typeof p === 'string') return { error: p };
  const host = env.VIEWER_HOST || '127.0.0.1';
  const url = env.DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) return { error: 'DATABASE_URL must be a postgres:// URL (or unset it to read the SQLite file RECORDS_PATH)' };
    // The address without its password, for the page and the terminal.
    return { host, port: p, source: { kind: 'postgres', url, label: url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, '//$1@') } };
  }
  const path = env.RECORDS_PATH || 'data/chorus.sqlite';
  return { host, port: p, source: { kind: 'sqlite', path, label: path } };
}

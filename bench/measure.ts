// Small helpers shared by the benchmark building blocks: clocks, percentiles, process memory, polling.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readNameLine } from '../core/split.ts';

/**
 * How `npm run <script>` starts a chorus process: the node flags and the plain variables its
 * package.json line gives (the gateway's small-heap flags and MALLOC_ARENA_MAX, say), so a bench
 * measures chorus as shipped.
 */
export function shippedStart(script: string): { nodeArgs: string[]; env: Record<string, string> } {
  const line = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts[script];
  if (!line) throw new Error(`package.json has no script ${script}`);
  const words = line.split(' ');
  return {
    nodeArgs: words.filter((a) => a.startsWith('--')),
    env: Object.fromEntries(words.flatMap((a) => (/^[A-Z_]+=[^$]+$/.test(a) ? [a.split('=') as [string, string]] : []))),
  };
}

/**
 * The personas' posts among a channel's messages, as people see them: those through chorus's
 * webhooks, and those the bot made under a persona's name line (a channel whose webhooks Discord
 * held: see core/discord.ts), given as the persona's words alone.
 */
export function personaPosts<M extends { webhook_id?: string | undefined; author: { id: string }; content: string }>(messages: readonly M[], botUserId: string): M[] {
  return messages.flatMap((m) => {
    if (m.webhook_id !== undefined) return [m];
    const words = m.author.id === botUserId ? readNameLine(m.content)?.piece : undefined;
    return words === undefined ? [] : [{ ...m, content: words }];
  });
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes (like Date.now()). */
export const now = (): number => performance.timeOrigin + performance.now();

/** The p-th percentile (nearest rank, as bench.ts computes it); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** p50, p99 and max of a list of durations, for one-line reports. */
export function summary(values: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const finite = values.filter((v) => Number.isFinite(v));
  return { n: finite.length, p50: percentile(finite, 50), p99: percentile(finite, 99), max: finite.length ? Math.max(...finite) : NaN };
}

export const fmtMs = (v: number): string => `${v.toFixed(2)} ms`;

export interface ProcessMemory {
  /** Resident set size now (VmRSS), MiB. */
  rssMb: number;
  /** Peak resident set size (VmHWM), MiB. */
  peakMb: number;
}

/** A process's memory as the kernel counts it (Linux /proc); the figure `ps` and container limits use. */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]);
  };
  return { rssMb: kib('VmRSS') / 1024, peakMb: kib('VmHWM') / 1024 };
}

/** CPU seconds a process has used (user + system), from /proc/<pid>/stat; clock ticks are 100 a second on Linux. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime, stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Polls `check` until it returns a value other than undefined; throws after `timeoutMs` saying what was awaited. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

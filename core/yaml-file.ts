// Reading a YAML file against a zod schema, for persona and protocol files alike: a bad file is
// refused with the file, each bad field, and why.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/** One line per problem: `  path.to.field: reason`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`).join('\n');
}

/** A persona or protocol is a page of YAML; anything far larger is a mistake (or an attack on memory). */
export const MAX_FILE_BYTES = 256 * 1024;

/** Parses and validates one file's text; `fail` makes the error thrown. Pure. */
export function parseYamlFile<S extends z.ZodType>(file: string, source: string, schema: S, what: string, fail: (message: string) => Error): z.infer<S> {
  const bytes = Buffer.byteLength(source);
  if (bytes > MAX_FILE_BYTES) throw fail(`${file}: ${Math.round(bytes / 1024)} KiB is too large for a ${what} file (at most ${MAX_FILE_BYTES / 1024} KiB)`);
  let raw: unknown;
  try {
    raw = parseYaml(source);
  } catch (err) {
    const message = (err as Error).message;
    // The parser's own advice here is a library call; the person editing needs the YAML rule.
    if (/multiple documents/.test(message)) throw fail(`${file}: holds more than one document (a line of ---): one ${what} per file`);
    throw fail(`${file}: not valid YAML (use spaces, not tabs, to indent; put text that holds ": " or starts with a quote in quotes, or write it as a | block): ${message}`);
  }
  if (raw === null || raw === undefined) throw fail(`${file}: the file is empty: a ${what} file is a set of \`key: value\` lines`);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw fail(`${file}: holds ${Array.isArray(raw) ? 'a list' : 'a single value'}: a ${what} file is a set of \`key: value\` lines, one ${what} per file`);
  const result = schema.safeParse(raw);
  if (!result.success) throw fail(`${file}: invalid ${what}\n${describeIssues(result.error)}`);
  return result.data;
}

/** Reads a file, refusing one over MAX_FILE_BYTES before reading it into memory. */
export async function readSmallFile(path: string, what: string, fail: (message: string) => Error): Promise<string> {
  const { size } = await stat(path);
  if (size > MAX_FILE_BYTES) throw fail(`${path}: ${Math.round(size / 1024)} KiB is too large for a ${what} file (at most ${MAX_FILE_BYTES / 1024} KiB)`);
  return readFile(path, 'utf8');
}

/**
 * The YAML files of a folder (.yaml or .yml, in any case), sorted; hidden files (an editor's or
 * macOS's `._x.yaml`) and folders are not files of ours. A folder that is not there is said
 * plainly, naming the variable that points at it.
 */
export async function yamlFilesIn(dir: string, variable: string, fail: (message: string) => Error): Promise<string[]> {
  try {
    const entries = (await readdir(dir, { withFileTypes: true })).filter((f) => /\.ya?ml$/i.test(f.name) && !f.name.startsWith('.'));
    // A link counts by what it points at (a Kubernetes ConfigMap mounts every file as one).
    const files = await Promise.all(entries.map(async (f) => (f.isFile() || (f.isSymbolicLink() && (await stat(join(dir, f.name)).catch(() => undefined))?.isFile()) ? f.name : undefined)));
    return files.filter((f): f is string => f !== undefined).sort();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fail(`${dir}: no such folder (set ${variable} to the folder holding the files)`);
    throw err;
  }
}

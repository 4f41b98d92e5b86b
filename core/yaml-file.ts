// Reading a YAML file against a zod schema, for persona and protocol files alike: a bad file is
// refused with the file, each bad field, and why.
import { readdir, readFile, stat } from 'node:fs/promises';
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
    throw fail(`${file}: not valid YAML: ${(err as Error).message}`);
  }
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

/** The YAML files of a folder, sorted; a folder that is not there is said plainly, naming the variable that points at it. */
export async function yamlFilesIn(dir: string, variable: string, fail: (message: string) => Error): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fail(`${dir}: no such folder (set ${variable} to the folder holding the files)`);
    throw err;
  }
}

// Reading a YAML file against a zod schema, for persona and protocol files alike: a bad file is
// refused with the file, each bad field, and why.
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/** One line per problem: `  path.to.field: reason`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`).join('\n');
}

/** Parses and validates one file's text; `fail` makes the error thrown. Pure. */
export function parseYamlFile<S extends z.ZodType>(file: string, source: string, schema: S, what: string, fail: (message: string) => Error): z.infer<S> {
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

// The shape of an interview protocol file, and its loader. A bad file is refused with the file,
// the field and the reason.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYamlFile, readSmallFile } from '../core/yaml-file.ts';
import type { Persona } from '../personas/schema.ts';
import { z } from 'zod';

export const ProtocolSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  title: z.string().min(1).max(100),
  purpose: z.string().min(1),
  disclosure: z.strictObject({
    /** Shown to the people in the thread when the session opens. */
    text: z.string().min(1),
    /** Whether the models get the disclosure in their context too (the depth of disclosure is an experimental variable). */
    toModels: z.boolean().default(true),
  }),
  interviewer: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('human') }),
    z.strictObject({
      kind: z.literal('auditor'),
      /** The persona that asks; it reads the protocol, the answers so far and these instructions. */
      persona: z.string().min(1),
      instructions: z.string().min(1),
      /** Most follow-up questions the auditor may add in the whole session. */
      followUpLimit: z.int().min(0).max(20).default(2),
    }),
  ]),
  mode: z.enum(['sequential', 'blind']).default('sequential'),
  questions: z.array(z.string().min(1).max(1800)).min(1),
});
export type Protocol = z.infer<typeof ProtocolSchema>;

export class ProtocolFileError extends Error {
  override name = 'ProtocolFileError';
}

/** Validates one file's text; throws naming the file, each bad field and why. Pure. */
export function parseProtocol(file: string, source: string): Protocol {
  return parseYamlFile(file, source, ProtocolSchema, 'protocol', (message) => new ProtocolFileError(message));
}

export interface LoadedProtocol {
  protocol: Protocol;
  /** The file's exact text, recorded (with its hash) in every session's header. */
  text: string;
}

export async function loadProtocols(dir: string): Promise<Map<string, LoadedProtocol>> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const loaded = new Map<string, LoadedProtocol>();
  for (const f of files) {
    const text = await readSmallFile(join(dir, f), 'protocol', (m) => new ProtocolFileError(m));
    const protocol = parseProtocol(join(dir, f), text);
    if (loaded.has(protocol.id)) throw new ProtocolFileError(`${join(dir, f)}: id "${protocol.id}" is already used by another protocol`);
    loaded.set(protocol.id, { protocol, text });
  }
  return loaded;
}

/** A protocol whose auditor is not a persona chorus knows cannot run: refused at start, not mid-session. */
export function checkProtocolPersonas(protocols: ReadonlyMap<string, LoadedProtocol>, personas: readonly Persona[]): void {
  for (const { protocol } of protocols.values()) {
    if (protocol.interviewer.kind !== 'auditor') continue;
    const wanted = protocol.interviewer.persona;
    if (!personas.some((p) => p.id === wanted)) {
      throw new ProtocolFileError(`protocol ${protocol.id}: interviewer.persona "${wanted}" is not a persona (known: ${personas.map((p) => p.id).join(', ')})`);
    }
  }
}

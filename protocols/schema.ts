// The shape of an interview protocol file, and its loader. A bad file is refused with the file,
// the field and the reason.
import { join } from 'node:path';
import { parseYamlFile, readSmallFile, yamlFilesIn } from '../core/yaml-file.ts';
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
  /**
   * Ask each persona's consent before its first question. chorus composes the overview from these
   * three parts and a fixed sentence saying it may decline, or stop at any point (see
   * core/interview/consent.ts): short, neutral, and the same for every persona.
   */
  consent: z
    .strictObject({
      /** What the study is, in a sentence or two. */
      study: z.string().min(1).max(400),
      /** Who will read the transcripts. */
      readers: z.string().min(1).max(300),
      /** How they are published. */
      publication: z.string().min(1).max(300),
      /** A persona that classifies each answer (agrees, declines, sets conditions); else a documented rule does. */
      judge: z.string().min(1).optional(),
    })
    .optional(),
  /** Judge personas score every answer on these dimensions once the session has ended. */
  judging: z
    .strictObject({
      judges: z.array(z.string().min(1)).min(1),
      /** Judges are not told which persona or model answered (names and model ids in the texts are masked). */
      blind: z.boolean().default(true),
      dimensions: z
        .array(
          z
            .strictObject({
              name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
              scale: z.strictObject({ min: z.int(), max: z.int() }),
              rubric: z.string().min(1).max(1500),
            })
            .refine((d) => d.scale.min < d.scale.max, { message: 'scale.min must be below scale.max', path: ['scale'] }),
        )
        .min(1)
        .refine((ds) => new Set(ds.map((d) => d.name)).size === ds.length, 'dimension names must differ'),
    })
    .optional(),
  /**
   * Topics the interview should reach (an auditor's, above all). A topic is reached when a question,
   * or an answer to it, names one of its keywords (the topic itself when none are given); one never
   * reached is recorded as not reached.
   */
  topics: z.array(z.union([z.string().min(1), z.strictObject({ topic: z.string().min(1), keywords: z.array(z.string().min(1)).min(1) })])).optional(),
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
  const files = await yamlFilesIn(dir, 'PROTOCOLS_DIR', (m) => new ProtocolFileError(m));
  const loaded = new Map<string, LoadedProtocol>();
  for (const f of files) {
    const text = await readSmallFile(join(dir, f), 'protocol', (m) => new ProtocolFileError(m));
    const protocol = parseProtocol(join(dir, f), text);
    if (loaded.has(protocol.id)) throw new ProtocolFileError(`${join(dir, f)}: id "${protocol.id}" is already used by another protocol`);
    loaded.set(protocol.id, { protocol, text });
  }
  return loaded;
}

/** The personas a protocol names itself (its auditor, consent judge and judges), by the field naming each. */
export function protocolPersonaIds(protocol: Protocol): { field: string; id: string }[] {
  return [
    ...(protocol.interviewer.kind === 'auditor' ? [{ field: 'interviewer.persona', id: protocol.interviewer.persona }] : []),
    ...(protocol.consent?.judge ? [{ field: 'consent.judge', id: protocol.consent.judge }] : []),
    ...(protocol.judging?.judges.map((id, i) => ({ field: `judging.judges.${i}`, id })) ?? []),
  ];
}

/** A protocol naming a persona chorus does not know cannot run: refused at start, not mid-session. */
export function checkProtocolPersonas(protocols: ReadonlyMap<string, LoadedProtocol>, personas: readonly Persona[]): void {
  for (const { protocol } of protocols.values()) {
    for (const { field, id } of protocolPersonaIds(protocol)) {
      if (!personas.some((p) => p.id === id)) {
        throw new ProtocolFileError(`protocol ${protocol.id}: ${field} "${id}" is not a persona (known: ${personas.map((p) => p.id).join(', ')})`);
      }
    }
  }
}

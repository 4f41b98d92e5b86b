// Reads persona YAML files and validates them. A bad file stops start-up with the file and field named.
import { join } from 'node:path';
import { parseYamlFile, readSmallFile, yamlFilesIn } from '../core/yaml-file.ts';
import { PersonaSchema, isHostUsable, keyEnvOf, type Persona } from './schema.ts';

export class PersonaFileError extends Error {
  override name = 'PersonaFileError';
}

/** Validates one parsed file; throws naming the file and the offending field. Pure. */
export function parsePersona(file: string, source: string): Persona {
  return parseYamlFile(file, source, PersonaSchema, 'persona', (message) => new PersonaFileError(message));
}

/**
 * Checks what only the whole set can show: unique ids, and no name, id or alias that one persona
 * shares with another, compared as routing reads them (any case, spaces trimmed and merged).
 */
export function checkPersonaSet(entries: { file: string; persona: Persona }[]): void {
  const files = new Map<string, string>();
  for (const { file, persona } of entries) {
    const other = files.get(persona.id);
    if (other) throw new PersonaFileError(`${file}: id "${persona.id}" is already used by ${other}; each persona needs its own id`);
    files.set(persona.id, file);
  }
  const seen = new Map<string, { personaId: string; file: string; field: string; text: string }>();
  for (const { file, persona } of entries) {
    const handles = [
      { field: 'id', text: persona.id },
      { field: 'name', text: persona.name },
      ...persona.aliases.map((text, i) => ({ field: `aliases.${i}`, text })),
    ];
    for (const { field, text } of handles) {
      const handle = text.replace(/\s+/g, ' ').trim().toLowerCase();
      const other = seen.get(handle);
      if (other && other.personaId !== persona.id) {
        // The later of the two is named first; usually an alias, which is what to change.
        const mine = { personaId: persona.id, file, field, text };
        const [blamed, also] = field.startsWith('aliases') || !other.field.startsWith('aliases') ? [mine, other] : [other, mine];
        throw new PersonaFileError(`${blamed.file}: ${blamed.field} "${blamed.text}" is also the ${also.field.startsWith('aliases') ? 'alias' : also.field} of another persona (${also.file}): a message naming it would summon both; change one`);
      }
      if (!other) seen.set(handle, { personaId: persona.id, file, field, text });
    }
  }
}

export async function loadPersonas(dir: string): Promise<Persona[]> {
  const files = await yamlFilesIn(dir, 'PERSONAS_DIR', (m) => new PersonaFileError(m));
  const entries = await Promise.all(files.map(async (f) => ({ file: join(dir, f), persona: parsePersona(join(dir, f), await readSmallFile(join(dir, f), 'persona', (m) => new PersonaFileError(m))) })));
  checkPersonaSet(entries);
  if (entries.length === 0) throw new PersonaFileError(`${dir}: no persona files (*.yaml or *.yml) found`);
  return entries.map((e) => e.persona);
}

export interface PersonaAvailability {
  persona: Persona;
  usableHosts: number;
  /** Key variables that are unset, for the start-up log and /personas. */
  missingKeys: string[];
}

export function availability(personas: Persona[], env: Record<string, string | undefined>): PersonaAvailability[] {
  return personas.map((persona) => {
    const missing = persona.hosts.filter((h) => !isHostUsable(h, env));
    return {
      persona,
      usableHosts: persona.hosts.length - missing.length,
      missingKeys: [...new Set(missing.map((h) => keyEnvOf(h) ?? ''))],
    };
  });
}

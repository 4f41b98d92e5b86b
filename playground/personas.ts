// Who can answer in the playground: the persona files as they are, which of them lack a key (and
// which variable would bring each back), and Echo — a test persona that says it is not a model,
// answered by the playground's local echo host, so the page does something with no keys at all. Pure.
import { availability } from '../personas/load.ts';
import { hostLabel, isHostUsable, keyEnvOf, PersonaSchema, publicAddress, type Persona } from '../personas/schema.ts';

export const ECHO_ID = 'echo';
/** The name says what it is wherever it appears: in the channel, in /personas, in transcripts. */
export const ECHO_NAME = 'Echo (test persona, not a model)';

export function echoPersona(echoHostUrl: string, avatarUrl: string): Persona {
  return PersonaSchema.parse({
    id: ECHO_ID,
    name: ECHO_NAME,
    aliases: ['echo'],
    avatarUrl,
    systemPrompt: 'You are not a model: the playground echo host answers with what it was sent.',
    sampling: { maxTokens: 400 },
    hosts: [{ provider: 'openai', label: 'playground echo host (not a model)', model: 'echo', baseUrl: `${echoHostUrl}/v1`, apiKeyEnv: 'none' }],
  });
}

/** Echo joins the persona files unless one of them already answers to its id, name or alias. */
export function withEcho(personas: readonly Persona[], echo: Persona): { personas: Persona[]; note?: string } {
  const handles = new Set([echo.id, echo.name, ...echo.aliases].map((h) => h.toLowerCase()));
  const clash = personas.find((p) => [p.id, p.name, ...p.aliases].some((h) => handles.has(h.toLowerCase())));
  if (clash) return { personas: [...personas], note: `The test persona Echo is left out: persona "${clash.id}" already answers to its name.` };
  return { personas: [...personas, echo] };
}

export interface PersonaCard {
  id: string;
  name: string;
  avatarUrl?: string;
  /** False when no host has its key: it answers with a notice instead. */
  available: boolean;
  test: boolean;
  hosts: { label: string; model: string; usable: boolean; key?: string; local?: string }[];
}

export interface KeyReport {
  /** Each unset key variable and the personas it would bring back (or give a fallback host). */
  missing: { variable: string; personas: string[] }[];
  cards: PersonaCard[];
}

export function keyReport(personas: readonly Persona[], env: Record<string, string | undefined>): KeyReport {
  const missing = new Map<string, string[]>();
  for (const a of availability([...personas], env)) {
    for (const variable of a.missingKeys) missing.set(variable, [...(missing.get(variable) ?? []), a.persona.name]);
  }
  const cards = personas.map((p) => ({
    id: p.id,
    name: p.name,
    ...(p.avatarUrl ? { avatarUrl: p.avatarUrl } : {}),
    available: p.hosts.some((h) => isHostUsable(h, env)),
    test: p.id === ECHO_ID && p.name === ECHO_NAME,
    hosts: p.hosts.map((h) => {
      const key = keyEnvOf(h);
      // A keyless host is a server of the user's own (Ollama, vLLM, llama.cpp): say where it is looked for.
      return { label: hostLabel(h), model: h.model, usable: isHostUsable(h, env), ...(key ? { key } : h.baseUrl ? { local: publicAddress(h.baseUrl) } : {}) };
    }),
  }));
  return { missing: [...missing].map(([variable, names]) => ({ variable, personas: names })).sort((a, b) => a.variable.localeCompare(b.variable)), cards };
}

// Reads a slash command as a person types it in Discord's message box — `/ask persona:echo text:hi`,
// `/interview start protocol:retirement personas:a,b mode:blind` — into the options Discord sends
// with the interaction, checked against the registered definitions the way Discord's client checks
// them (required options, choices, number ranges, lengths). Pure.
import type { APIApplicationCommandOption, RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord-api-types/v10';

export type CommandDefinition = RESTPostAPIChatInputApplicationCommandsJSONBody;

/** An option as Discord sends it in INTERACTION_CREATE's data.options. */
export interface WireOption {
  type: number;
  name: string;
  value?: string | number | boolean;
  options?: WireOption[];
  focused?: boolean;
}

export type ReadCommand =
  | { ok: true; name: string; options: WireOption[]; /** The option being typed (partial reads). */ focused?: string }
  | { ok: false; error: string };

// Discord's option types (developers/interactions/application-commands#application-command-object-application-command-option-type).
const SUB_COMMAND = 1;
const SUB_COMMAND_GROUP = 2;
const STRING = 3;
const INTEGER = 4;
const BOOLEAN = 5;
const NUMBER = 10;

type Option = APIApplicationCommandOption & {
  options?: Option[];
  choices?: { name: string; value: string | number }[];
  required?: boolean;
  autocomplete?: boolean;
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
};

const isSub = (o: Option) => o.type === SUB_COMMAND || o.type === SUB_COMMAND_GROUP;

/** How a command is written, for hints and error messages: `/config set key: value: [scope:]`. */
export function usageOf(path: string, options: readonly Option[]): string {
  const args = options.map((o) => (o.required ? `${o.name}:` : `[${o.name}:]`));
  return [`/${path}`, ...args].join(' ');
}

/** Every command and subcommand with its usage and description, for the page's command list. */
export function commandHints(definitions: readonly CommandDefinition[]): { usage: string; description: string; autocomplete: string[] }[] {
  const out: { usage: string; description: string; autocomplete: string[] }[] = [];
  const walk = (path: string, description: string, options: readonly Option[]) => {
    const subs = options.filter(isSub);
    if (subs.length === 0) {
      out.push({ usage: usageOf(path, options), description, autocomplete: options.filter((o) => o.autocomplete).map((o) => o.name) });
      return;
    }
    for (const s of subs) walk(`${path} ${s.name}`, s.description, s.options ?? []);
  };
  for (const d of definitions) walk(d.name, d.description, (d.options ?? []) as Option[]);
  return out;
}

/**
 * Reads a typed command. With `partial`, the line is still being typed: required options may be
 * missing, and the last option written is reported as `focused` (for autocomplete).
 */
export function readCommandLine(line: string, definitions: readonly CommandDefinition[], opts: { partial?: boolean } = {}): ReadCommand {
  const text = line.replace(/^\s+/, '');
  if (!text.startsWith('/')) return { ok: false, error: 'A command starts with /, for example /personas.' };
  const words = text.slice(1).split(/\s+/);
  const name = (words[0] ?? '').toLowerCase();
  const definition = definitions.find((d) => d.name === name);
  if (!definition) return { ok: false, error: `There is no command /${name}. Commands: ${definitions.map((d) => `/${d.name}`).join(', ')}.` };

  // Walk down subcommand groups and subcommands, one word each.
  let path = definition.name;
  let options = (definition.options ?? []) as Option[];
  let rest = text.slice(1 + (words[0] ?? '').length);
  const chain: Option[] = [];
  while (options.some(isSub)) {
    const word = rest.trimStart().split(/\s+/)[0] ?? '';
    const sub = options.find((o) => isSub(o) && o.name === word.toLowerCase());
    if (!sub) {
      const names = options.filter(isSub).map((o) => o.name).join(', ');
      return { ok: false, error: word ? `/${path} has no "${word}". Choose one of: ${names}.` : `/${path} needs one of: ${names}.` };
    }
    chain.push(sub);
    path += ` ${sub.name}`;
    options = sub.options ?? [];
    rest = rest.trimStart().slice(word.length);
  }

  const values = readValues(rest, options);
  if (!values.ok) return { ok: false, error: `${values.error} Write it as ${usageOf(path, options)}` };
  const wire: WireOption[] = [];
  for (const option of options) {
    const raw = values.found.get(option.name);
    if (raw === undefined) {
      if (option.required && !opts.partial) return { ok: false, error: `/${path} needs ${option.name}: (${option.description}). Write it as ${usageOf(path, options)}` };
      continue;
    }
    const focused = opts.partial && values.last === option.name;
    const value = focused ? raw : convert(option, raw);
    if (typeof value === 'object') return { ok: false, error: `${option.name}: ${value.error}` };
    wire.push({ type: option.type, name: option.name, value, ...(focused ? { focused: true } : {}) });
  }
  // Subcommands wrap the values, innermost first.
  const nested = chain.reduceRight<WireOption[]>((inner, sub) => [{ type: sub.type, name: sub.name, options: inner }], wire);
  return { ok: true, name: definition.name, options: nested, ...(opts.partial && values.last ? { focused: values.last } : {}) };
}

/** Splits `a:1 b:two words` at known option names; text before the first one is a mistake. */
function readValues(rest: string, options: readonly Option[]): { ok: true; found: Map<string, string>; last?: string } | { ok: false; error: string } {
  const found = new Map<string, string>();
  if (!rest.trim()) return { ok: true, found };
  if (options.length === 0) return { ok: false, error: `This command takes no options, but "${rest.trim().slice(0, 40)}" follows it.` };
  const names = options.map((o) => RegExp.escape(o.name));
  const marker = new RegExp(`(?:^|\\s)(${names.join('|')}):`, 'gi');
  const marks = [...rest.matchAll(marker)];
  const first = marks[0];
  if (!first || rest.slice(0, first.index).trim()) {
    const stray = (first ? rest.slice(0, first.index) : rest).trim().slice(0, 40);
    return { ok: false, error: `"${stray}" is not an option.` };
  }
  let last: string | undefined;
  for (const [i, m] of marks.entries()) {
    const optionName = (m[1] ?? '').toLowerCase();
    const start = (m.index ?? 0) + m[0].length;
    const end = marks[i + 1]?.index ?? rest.length;
    if (found.has(optionName)) return { ok: false, error: `${optionName}: is given twice.` };
    found.set(optionName, rest.slice(start, end).trim());
    last = optionName;
  }
  return { ok: true, found, ...(last ? { last } : {}) };
}

/** A typed value as Discord sends it for the option's type, or why it cannot be. */
function convert(option: Option, raw: string): string | number | boolean | { error: string } {
  if (raw === '') return { error: 'is empty.' };
  if (option.choices?.length) {
    const choice = option.choices.find((c) => String(c.value) === raw || c.name.toLowerCase() === raw.toLowerCase());
    if (!choice) return { error: `must be one of ${option.choices.map((c) => c.name).join(', ')}.` };
    return choice.value;
  }
  switch (option.type) {
    case STRING:
      if (option.max_length !== undefined && raw.length > option.max_length) return { error: `is at most ${option.max_length} characters.` };
      if (option.min_length !== undefined && raw.length < option.min_length) return { error: `is at least ${option.min_length} characters.` };
      return raw;
    case INTEGER:
    case NUMBER: {
      const n = Number(raw);
      if (!Number.isFinite(n) || (option.type === INTEGER && !Number.isInteger(n))) return { error: `must be ${option.type === INTEGER ? 'a whole number' : 'a number'}.` };
      if (option.min_value !== undefined && n < option.min_value) return { error: `must be at least ${option.min_value}.` };
      if (option.max_value !== undefined && n > option.max_value) return { error: `must be at most ${option.max_value}.` };
      return n;
    }
    case BOOLEAN:
      if (/^(true|yes)$/i.test(raw)) return true;
      if (/^(false|no)$/i.test(raw)) return false;
      return { error: 'must be true or false.' };
    default:
      // Users, channels, roles and files are not offered by the playground's commands.
      return { error: 'cannot be typed here (the playground types text, numbers and true/false only).' };
  }
}

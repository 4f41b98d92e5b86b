// /persona <name> — one persona in detail: hosts in order and whether each can be used, mode,
// sampling, lifecycle, and the start of its system prompt.
import { hostLabel, isHostUsable, keyEnvOf, type Persona } from '../personas/schema.ts';
import { optionPersona, personaChoices, personaOption, type SlashCommand } from './shared.ts';
import { lifecycleLine } from './personas.ts';

export function describePersona(p: Persona, env: Record<string, string | undefined>): string {
  const hosts = p.hosts.map((h, i) => `${i + 1}. ${hostLabel(h)} · \`${h.model}\` (${h.provider})${isHostUsable(h, env) ? '' : ` — unavailable: ${keyEnvOf(h)} unset`}`);
  const sampling = Object.entries(p.sampling).map(([k, v]) => `${k} ${v}`).join(', ');
  const prompt = p.systemPrompt.trim();
  return [
    `**${p.name}** (\`${p.id}\`)${p.aliases.length ? ` — also "${p.aliases.join('", "')}"` : ''}`,
    lifecycleLine(p) && `-# ${lifecycleLine(p)}`,
    `Context: ${p.contextMode} · Sampling: ${sampling}`,
    `Hosts, tried in order:\n${hosts.join('\n')}`,
    prompt && `System prompt:\n> ${prompt.slice(0, 600).replace(/\n/g, '\n> ')}${prompt.length > 600 ? '…' : ''}`,
  ]
    .filter(Boolean)
    .join('\n');
}

export const command: SlashCommand = {
  name: 'persona',
  define: (b) =>
    new b.SlashCommandBuilder()
      .setName('persona')
      .setDescription('Details of one persona')
      .addStringOption(personaOption('name'))
      .toJSON(),
  async execute(ctx, s) {
    const persona = await optionPersona(ctx, s, 'name');
    if (persona) await ctx.reply(describePersona(persona, s.env), { ephemeral: true });
  },
  autocomplete: personaChoices,
};

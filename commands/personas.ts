// /personas — who is here, who else can be asked, which are unavailable, lifecycle dates, and
// which host serves each now.
import { availability } from '../personas/load.ts';
import { hostLabel, isHostUsable, type Persona } from '../personas/schema.ts';
import { placeOf, type SlashCommand } from './shared.ts';

export function lifecycleLine(persona: Persona): string {
  const l = persona.lifecycle;
  return [
    l.released && `released ${l.released}`,
    l.deprecated && `deprecated ${l.deprecated}`,
    l.retired && `retired by its maker ${l.retired}`,
    l.knowledgeCutoff && `knowledge to ${l.knowledgeCutoff}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

export function describePersonas(personas: readonly Persona[], roster: readonly string[], env: Record<string, string | undefined>): string {
  const line = ({ persona, usableHosts, missingKeys }: ReturnType<typeof availability>[number]) => {
    const host = persona.hosts.find((h) => isHostUsable(h, env));
    const status = usableHosts > 0 ? `via ${host ? hostLabel(host) : '?'} (${usableHosts}/${persona.hosts.length} hosts)` : `**unavailable** (unset: ${missingKeys.join(', ')})`;
    const aliases = persona.aliases.length ? ` — also "${persona.aliases.join('", "')}"` : '';
    const dates = lifecycleLine(persona);
    return `**${persona.name}**${aliases}: ${status}${dates ? `\n-# ${dates}` : ''}`;
  };
  const all = availability([...personas], env);
  const here = all.filter((a) => roster.includes(a.persona.id));
  const others = all.filter((a) => !roster.includes(a.persona.id));
  const parts = [
    'Personas answer when you name them, @-mention them, reply to their posts, or use /ask.',
    `**Here** (${here.length}): they may also join in and answer each other.\n${here.map(line).join('\n') || '-# nobody — /summon someone'}`,
  ];
  if (others.length) parts.push(`**Elsewhere** (${others.length}): they answer only when asked.\n${others.map(line).join('\n')}`);
  const text = parts.join('\n\n');
  return text.length <= 2000 ? text : `${text.slice(0, 1990)}\n…`;
}

export const command: SlashCommand = {
  name: 'personas',
  define: (b) =>
    new b.SlashCommandBuilder().setName('personas').setDescription('Who is here, who can be asked, their hosts and lifecycle dates').toJSON(),
  async execute(ctx, s) {
    await ctx.defer({ ephemeral: true });
    const { values } = await s.settings.resolve(placeOf(ctx));
    await ctx.edit(describePersonas(s.personas, values.roster, s.env));
  },
};

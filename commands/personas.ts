// /personas — who is here, who else can be asked, which are unavailable, lifecycle dates, and
// which host serves each now.
import { createHealthStore, hostId, isKnownDown, type HostHealth } from '../core/health.ts';
import { hostsToSkip } from '../core/hosts/fallback.ts';
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

/**
 * The host that serves a persona now: the first with its key that the health checks do not know to
 * be down — the one fallback asks first (when all are down, fallback tries them all; so does this).
 */
export function servingHost(persona: Persona, env: Record<string, string | undefined>, health: ReadonlyMap<string, HostHealth>, now: number) {
  const usable = persona.hosts.map((h) => isHostUsable(h, env));
  const down = persona.hosts.map((h) => isKnownDown(health.get(hostId(h)), now));
  const skip = hostsToSkip(usable, down);
  const host = persona.hosts.find((_, i) => usable[i] && !skip[i]);
  return { host, down: persona.hosts.filter((_, i) => usable[i] && down[i]) };
}

export function describePersonas(personas: readonly Persona[], roster: readonly string[], env: Record<string, string | undefined>, health: ReadonlyMap<string, HostHealth> = new Map(), now = Date.now()): string {
  const line = ({ persona, usableHosts, missingKeys }: ReturnType<typeof availability>[number]) => {
    const { host, down } = servingHost(persona, env, health, now);
    const downNote = down.length ? `; down: ${down.map(hostLabel).join(', ')}` : '';
    const status = usableHosts > 0 ? `via ${host ? hostLabel(host) : '?'} (${usableHosts}/${persona.hosts.length} hosts${downNote})` : `**unavailable** (unset: ${missingKeys.join(', ')})`;
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
    // Host health as the workers' checks left it (none yet: every host counts as up).
    const health = await createHealthStore(s.redis, s.config.CHORUS_PREFIX).all().catch(() => new Map<string, HostHealth>());
    await ctx.edit(describePersonas(s.personas, values.roster, s.env, health));
  },
};

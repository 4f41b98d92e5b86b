// Interactions a person starts in the stand-in: slash commands (type 2) and autocomplete (type 4).
import { joinGuild, permissionsIn } from './core.ts';
import type { Core, Interaction } from './core.ts';
import { wireMember, wireUser } from './model.ts';
import type { StandInUser } from './model.ts';
import { MODERATOR_PERMISSIONS } from './permissions.ts';

/** The default person's moderator permission set (kept for callers that passed it explicitly). */
export const MEMBER_PERMISSIONS = MODERATOR_PERMISSIONS.toString();

export interface InteractionInput {
  type: 2 | 4;
  name: string;
  options?: unknown[];
  channelId: string;
  user: StandInUser;
  /** The invoking member's permission bit set, as a decimal string; computed when absent. */
  permissions?: string;
  onCallback?: (body: Record<string, unknown>) => void;
}

export function dispatchInteraction(core: Core, o: InteractionInput): Interaction {
  const chan = core.channels.get(o.channelId);
  if (!chan) throw new Error('stand-in: unknown channel');
  const guildId = chan.guild_id;
  const member = joinGuild(core, guildId, o.user.id);
  const command = (core.commands.get(guildId) ?? []).find((c) => c.name === o.name);
  const interaction: Interaction = {
    id: core.nextId(),
    token: `aW50ZXJhY3Rpb246${core.nextId()}`,
    channelId: chan.id,
    guildId,
    userId: o.user.id,
    responded: false,
    createdAt: core.now(),
    type: o.type,
    ...(o.onCallback ? { onCallback: o.onCallback } : {}),
  };
  core.interactions.set(interaction.token, interaction);
  // An explicit bit set wins (tests of a member without some permission); else Discord's computation.
  const permissions = o.permissions ?? permissionsIn(core, chan, o.user.id).toString();
  interaction.payload = {
    id: interaction.id,
    application_id: core.applicationId,
    type: o.type,
    data: { id: (command?.id as string | undefined) ?? core.nextId(), name: o.name, type: 1, options: o.options ?? [], guild_id: guildId },
    guild_id: guildId,
    guild: { id: guildId, locale: 'en-US', features: [] },
    channel_id: chan.id,
    channel: { id: chan.id, type: chan.type, name: chan.name, guild_id: guildId, parent_id: chan.parent_id, permissions, flags: 0 },
    member: { ...wireMember(member.joinedAt, member.roles), user: wireUser(o.user), permissions },
    token: interaction.token,
    version: 1,
    app_permissions: permissionsIn(core, chan, core.botUser.id).toString(),
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: { '0': guildId },
    context: 0,
    attachment_size_limit: core.uploadLimitBytes,
  };
  core.dispatch('INTERACTION_CREATE', interaction.payload, { guildId });
  return interaction;
}

/** True when some option at any depth (subcommand groups, subcommands) is focused. */
export function hasFocused(options: unknown[]): boolean {
  return options.some((o) => {
    const opt = o as { focused?: boolean; options?: unknown[] };
    return opt.focused === true || (Array.isArray(opt.options) && hasFocused(opt.options));
  });
}

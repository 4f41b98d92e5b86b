// Interactions a person starts in the stand-in: slash commands (type 2) and autocomplete (type 4).
import type { Core, Interaction } from './core.ts';
import { wireMember, wireUser } from './model.ts';
import type { StandInUser } from './model.ts';

/**
 * The default invoking member's permission bits: Discord's default member set plus Administrator,
 * Manage Channels, Manage Guild, Manage Roles and Manage Webhooks (a moderator, Administrator-like).
 */
export const MEMBER_PERMISSIONS = (2248473465835073n | 8n | 16n | 32n | (1n << 28n) | (1n << 29n)).toString();

/** Bits of the permissions a test can deny the bot per channel. */
export const PERMISSION_BITS = { SendMessages: 1n << 11n, ManageWebhooks: 1n << 29n } as const;
export type DeniablePermission = keyof typeof PERMISSION_BITS;

/** The bot's permissions in a channel, less what a test denied there. */
export function appPermissions(core: Core, channelId: string): string {
  let bits = BigInt(MEMBER_PERMISSIONS);
  for (const p of core.denied.get(channelId) ?? []) bits &= ~(PERMISSION_BITS[p as DeniablePermission] ?? 0n);
  return bits.toString();
}

export interface InteractionInput {
  type: 2 | 4;
  name: string;
  options?: unknown[];
  channelId: string;
  user: StandInUser;
  /** The invoking member's permission bit set, as a decimal string. */
  permissions?: string;
  onCallback?: (body: Record<string, unknown>) => void;
}

export function dispatchInteraction(core: Core, o: InteractionInput): Interaction {
  const chan = core.channels.get(o.channelId);
  if (!chan) throw new Error('stand-in: unknown channel');
  const command = (core.commands.get(core.guildId) ?? []).find((c) => c.name === o.name);
  const interaction: Interaction = {
    id: core.nextId(),
    token: `aW50ZXJhY3Rpb246${core.nextId()}`,
    channelId: chan.id,
    userId: o.user.id,
    responded: false,
    type: o.type,
    ...(o.onCallback ? { onCallback: o.onCallback } : {}),
  };
  core.interactions.set(interaction.token, interaction);
  const permissions = o.permissions ?? MEMBER_PERMISSIONS;
  core.dispatch('INTERACTION_CREATE', {
    id: interaction.id,
    application_id: core.applicationId,
    type: o.type,
    data: { id: (command?.id as string | undefined) ?? core.nextId(), name: o.name, type: 1, options: o.options ?? [], guild_id: core.guildId },
    guild_id: core.guildId,
    guild: { id: core.guildId, locale: 'en-US', features: [] },
    channel_id: chan.id,
    channel: { id: chan.id, type: chan.type, name: chan.name, guild_id: core.guildId, parent_id: chan.parent_id, permissions, flags: 0 },
    member: { ...wireMember(core.joinedAt.get(o.user.id) ?? '', []), user: wireUser(o.user), permissions },
    token: interaction.token,
    version: 1,
    app_permissions: appPermissions(core, chan.id),
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: { '0': core.guildId },
    context: 0,
    attachment_size_limit: 10485760,
  });
  return interaction;
}

/** True when some option at any depth (subcommand groups, subcommands) is focused. */
export function hasFocused(options: unknown[]): boolean {
  return options.some((o) => {
    const opt = o as { focused?: boolean; options?: unknown[] };
    return opt.focused === true || (Array.isArray(opt.options) && hasFocused(opt.options));
  });
}

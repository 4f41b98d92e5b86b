// The bot's application object (GET /applications/@me, READY's application).
import type { Core } from './core.ts';
import { wireUser } from './model.ts';
import { BOT_PERMISSIONS } from './permissions.ts';

/** Application flags for the privileged intents the app has enabled (the "LIMITED" ones: under 100 guilds). */
export function applicationFlags(core: Core): number {
  let flags = 0;
  if (core.privileged.presences) flags |= 1 << 13; // GATEWAY_PRESENCE_LIMITED
  if (core.privileged.guildMembers) flags |= 1 << 15; // GATEWAY_GUILD_MEMBERS_LIMITED
  if (core.privileged.messageContent) flags |= 1 << 19; // GATEWAY_MESSAGE_CONTENT_LIMITED
  return flags;
}

export function wireApplication(core: Core, verifyKey: string): Record<string, unknown> {
  const flags = applicationFlags(core);
  const install = { scopes: ['applications.commands', 'bot'], permissions: BOT_PERMISSIONS.toString() };
  const owner = core.users.get(core.ownerId) ?? { id: core.ownerId, username: 'owner' };
  return {
    id: core.applicationId,
    name: core.botUser.username,
    icon: null,
    description: '',
    summary: '',
    type: null,
    bot_public: true,
    bot_require_code_grant: false,
    bot: { ...wireUser(core.botUser), bot: true, banner: null, accent_color: null, avatar_decoration_data: null, collectibles: null, primary_guild: null },
    owner: wireUser(owner),
    team: null,
    verify_key: verifyKey,
    flags,
    flags_new: String(flags),
    hook: true,
    redirect_uris: [],
    interactions_endpoint_url: null,
    role_connections_verification_url: null,
    event_webhooks_url: null,
    event_webhooks_status: 1,
    event_webhooks_types: [],
    tags: [],
    install_params: install,
    integration_types_config: { '0': { oauth2_install_params: install }, '1': {} },
    approximate_guild_count: core.guilds.size,
    approximate_user_install_count: 0,
    approximate_user_authorization_count: 0,
    is_monetized: false,
    is_verified: false,
    is_discoverable: false,
  };
}

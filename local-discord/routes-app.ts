// REST routes of the stand-in: gateway discovery and the bot's identity (user, application).
import { wireApplication } from './application.ts';
import type { Core } from './core.ts';
import { wireUser } from './model.ts';
import { DEFAULT } from './routing.ts';
import type { RouteFn } from './routing.ts';

export interface AppRouteOptions {
  gatewayUrl: () => string;
  /** GET /gateway/bot's shards. */
  recommendedShards: number;
  sessionStartLimit: () => Record<string, number>;
  verifyKey: string;
}

export function appRoutes(core: Core, route: RouteFn, o: AppRouteOptions): void {
  route('GET', '/gateway/bot', 'bot', DEFAULT, () => ({
    status: 200,
    body: { url: o.gatewayUrl(), shards: o.recommendedShards, session_start_limit: o.sessionStartLimit() },
  }));
  route('GET', '/gateway', 'none', DEFAULT, () => ({ status: 200, body: { url: o.gatewayUrl() } }));
  route('GET', '/users/@me', 'bot', DEFAULT, () => ({
    status: 200,
    body: { ...wireUser(core.botUser), bot: true, verified: true, mfa_enabled: false, locale: 'en-US' },
  }));
  route('GET', '/applications/@me', 'bot', DEFAULT, () => ({ status: 200, body: wireApplication(core, o.verifyKey) }));
}

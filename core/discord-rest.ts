// @discordjs/rest as chorus loads it: its build for runtimes with fetch ("web"), which sends through
// Node's own fetch. Its Node build brings the `undici` package besides (about 27 MB more resident
// memory per process, measured), for nothing: Node's fetch is undici already, and the model SDKs use
// it. Every chorus module takes the REST classes from here, so one process holds one copy of them
// (`instanceof DiscordAPIError` must meet the class that threw). The types are the package's own.
import { createRequire } from 'node:module';
import type * as DiscordRest from '@discordjs/rest';

const require = createRequire(import.meta.url);
// (The package's exports give Node its Node build; the web build is the file beside it.)
const web = require(require.resolve('@discordjs/rest').replace(/index\.js$/, 'web.js')) as typeof DiscordRest;

export const { REST, DiscordAPIError, HTTPError, RateLimitError, DefaultRestOptions, RESTEvents } = web;
export type REST = DiscordRest.REST;
export type DiscordAPIError = DiscordRest.DiscordAPIError;
export type HTTPError = DiscordRest.HTTPError;
export type RateLimitError = DiscordRest.RateLimitError;
export type RESTEvents = DiscordRest.RESTEvents;
export type { APIRequest, RateLimitData, RawFile, RequestMethod, ResponseLike } from '@discordjs/rest';

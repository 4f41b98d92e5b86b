// The shape of a persona file. Pure: no Discord, queue or SDK imports.
import { z } from 'zod';

const isoDate = z.iso.date({ error: 'a date written YYYY-MM-DD (e.g. 2024-03-04)' });

/** Words people write in most messages: as an alias, one would summon its persona nearly always. */
const EVERYDAY = new Set('a an and are at be but can do for he hey hi how i in is it me my no not of ok on one or she so that the they this to we what who why will yes you your'.split(' '));

/** Written as routing reads it: spaces trimmed, runs of them made one. */
const handle = (what: string) =>
  z
    .string()
    .overwrite((s) => s.replace(/\s+/gu, ' ').trim())
    .min(1, `${what} is empty`);

export const HostSchema = z.strictObject({
  /** Which wire format: Anthropic Messages, OpenAI Chat Completions, or legacy text completions. */
  provider: z.enum(['anthropic', 'openai', 'completions']),
  model: z.string().min(1),
  /** Where the API lives; defaults to the provider's public endpoint. */
  baseUrl: z.url({ protocol: /^https?$/, error: 'an http(s) address, e.g. http://localhost:11434/v1' }).optional(),
  /** Name of the environment variable holding the key. `none` for keyless local servers. */
  apiKeyEnv: z.string().regex(/^([A-Z_][A-Z0-9_]*|none)$/, 'an environment variable name in UPPER_CASE, or none').optional(),
  /** A label for records and /personas ("anthropic", "openrouter", "local-vllm"). */
  label: z.string().min(1).optional(),
  /** The model reads images here: attached images are sent to it, not just named. */
  vision: z.boolean().default(false),
  /**
   * Anthropic hosts: mark the stable start of each request (system prompt, then the conversation so
   * far) with cache_control, so the next request reads it from the host's cache. Turn off for an
   * Anthropic-compatible server that refuses the field.
   */
  promptCache: z.boolean().default(true),
  /**
   * How long this host may send nothing (no headers, no streamed event) before the request is given
   * up and retried; MODEL_TIMEOUT_MS when absent. Raise it for a model that reasons for minutes
   * before its first token.
   */
  silenceSeconds: z.number().int().min(5).max(3600).optional(),
  /**
   * The model's context window as this host serves it, in tokens (a local server's n_ctx, a legacy
   * model's 2,049): the history sent is cut to fit. Without it, a request the host says is too long
   * for its model is sent again with less history.
   */
  contextTokens: z.int().positive().optional(),
  /**
   * The model writes its reasoning first and ends it with `</think>`, its chat template having opened
   * the tag (DeepSeek-R1's distills on a server without a reasoning parser): nothing of the answer is
   * shown until the reasoning is over, so the reasoning never shows in a streamed preview.
   */
  thinksFirst: z.boolean().default(false),
});
export type Host = z.infer<typeof HostSchema>;

export const PersonaSchema = z.strictObject({
  // (At most 64: it is a slash command's choice value, which Discord caps at 100.)
  id: z.string().max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  // Posted as a webhook's username, under Discord's rules for names: it refuses the post (400) for
  // a name breaking them, and stores the name with its spaces trimmed and runs of spaces made one,
  // as it is kept here (chorus finds its own posts again by name).
  name: z
    .string()
    .overwrite((name) => name.replace(/\s+/gu, ' ').trim())
    .min(1)
    .max(80)
    .refine((name) => !/discord|clyde/i.test(name), 'Discord refuses a webhook name containing "discord" or "clyde": choose another name')
    .refine((name) => !/[@#:]|```/.test(name), 'Discord refuses a name containing @, #, : or ```: choose another name')
    .refine((name) => !/^(everyone|here)$/i.test(name), 'Discord refuses the names "everyone" and "here": choose another name'),
  aliases: z
    .array(
      handle('an alias')
        .refine((a) => [...a].length > 1, 'an alias of one character would summon this persona in most messages')
        .refine((a) => !EVERYDAY.has(a.toLowerCase()), 'an everyday word: as an alias it would summon this persona in most messages'),
    )
    .default([]),
  // Discord fetches it to show beside each post: a web address, not a file path or data: URI.
  avatarUrl: z.url({ protocol: /^https?$/, error: 'an http(s) address Discord can fetch the image from' }).optional(),
  systemPrompt: z.string().default(''),
  /** chat: native chat turns; prefill: a `Name: text` transcript the model continues. */
  contextMode: z.enum(['chat', 'prefill']).default('chat'),
  sampling: z
    .strictObject({
      temperature: z.number().min(0).max(2).optional(),
      topP: z.number().gt(0).max(1).optional(),
      maxTokens: z.int().positive().default(1024),
    })
    .default({ maxTokens: 1024 }),
  lifecycle: z
    .strictObject({
      released: isoDate.optional(),
      deprecated: isoDate.optional(),
      retired: isoDate.optional(),
      knowledgeCutoff: isoDate.optional(),
    })
    // A record's dates are research data: ones out of order are a typo, not a fact.
    .refine((l) => inOrder(l.released, l.deprecated, l.retired), 'the dates must follow each other: released, then deprecated, then retired')
    .refine((l) => inOrder(l.knowledgeCutoff, l.released), 'the knowledge cutoff comes before the release')
    .default({}),
  /** Hosts that serve this model, tried in order when one refuses or has retired it. */
  hosts: z.array(HostSchema).min(1),
});
export type Persona = z.infer<typeof PersonaSchema>;

/** Whether the dates given (YYYY-MM-DD, so they compare as text) come in this order; absent ones are skipped. */
function inOrder(...dates: (string | undefined)[]): boolean {
  const given = dates.filter((d): d is string => d !== undefined);
  return given.every((d, i) => i === 0 || given[i - 1]! <= d);
}

/** Services whose OpenAI-compatible API is served at the root of their address, without /v1. */
const SERVED_AT_ROOT = new Set(['api.deepseek.com', 'api.perplexity.ai']);

/**
 * What in a persona's hosts is likely a mistake though valid: a base URL the SDK will not find its
 * API under (it appends /chat/completions or /completions to an OpenAI-compatible one, which most
 * servers serve under /v1; /v1/messages to an Anthropic one). Such a host answers 404 at first use,
 * which reads as the model being gone. Only a bare address is doubted: a path someone wrote
 * (Gemini's /v1beta/openai, Azure's /openai/deployments/…) is theirs to know. Pure.
 */
export function hostWarnings(persona: Persona): string[] {
  return persona.hosts.flatMap((h, i) => {
    if (!h.baseUrl) return [];
    const url = new URL(h.baseUrl);
    const path = url.pathname.replace(/\/+$/, '');
    if (h.provider === 'anthropic' && /\/v1$/.test(path)) return [`hosts.${i}.baseUrl ends in /v1, which the Anthropic SDK adds itself: requests would go to …/v1/v1/messages`];
    if (h.provider !== 'anthropic' && path === '' && !SERVED_AT_ROOT.has(url.hostname)) return [`hosts.${i}.baseUrl has no path: most OpenAI-compatible servers (vLLM, Ollama, LM Studio, OpenRouter's /api/v1) answer under …/v1, so this host may answer "not found"`];
    return [];
  });
}

/** The key variable a host reads, after provider defaults; undefined when it needs none. */
export function keyEnvOf(host: Host): string | undefined {
  if (host.apiKeyEnv === 'none') return undefined;
  if (host.apiKeyEnv) return host.apiKeyEnv;
  return host.provider === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
}

/** The label shown for a host in records and listings. */
/**
 * A host's address as a record may keep it: scheme, host and path. Credentials written into the
 * address (`https://user:key@…`, `?api_key=…`) and the fragment never leave the process.
 */
export function publicAddress(baseUrl: string): string {
  const url = new URL(baseUrl);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export function hostLabel(host: Host): string {
  if (host.label) return host.label;
  if (host.baseUrl) return new URL(host.baseUrl).host;
  return host.provider === 'anthropic' ? 'anthropic' : 'openai';
}

/** A host can be called when its key variable is set (or it needs none). */
export function isHostUsable(host: Host, env: Record<string, string | undefined>): boolean {
  const name = keyEnvOf(host);
  return name === undefined || Boolean(env[name]);
}

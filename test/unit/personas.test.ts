import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { availability, loadPersonas, parsePersona, PersonaFileError } from '../../personas/load.ts';
import { hostLabel, hostWarnings, keyEnvOf } from '../../personas/schema.ts';

const good = `
id: old-model
name: Old Model
aliases: [oldie]
systemPrompt: hi
contextMode: prefill
lifecycle: { released: 2023-01-01, retired: 2025-01-01 }
hosts:
  - { provider: anthropic, model: claude-old }
  - { provider: openai, model: vendor/old, baseUrl: https://openrouter.ai/api/v1, apiKeyEnv: OPENROUTER_API_KEY, label: openrouter }
`;

describe('persona files', () => {
  it('accepts a good file and fills defaults', () => {
    const p = parsePersona('old.yaml', good);
    expect(p.contextMode).toBe('prefill');
    expect(p.sampling.maxTokens).toBe(1024);
    expect(p.lifecycle.retired).toBe('2025-01-01');
    expect(p.hosts.map(hostLabel)).toEqual(['anthropic', 'openrouter']);
    expect(p.hosts.map(keyEnvOf)).toEqual(['ANTHROPIC_API_KEY', 'OPENROUTER_API_KEY']);
  });

  it('refuses a bad file naming the file and the field', () => {
    const bad = good.replace('provider: anthropic', 'provider: anthropc');
    expect(() => parsePersona('personas/old.yaml', bad)).toThrow(PersonaFileError);
    expect(() => parsePersona('personas/old.yaml', bad)).toThrow(/personas\/old\.yaml[\s\S]*hosts\.0\.provider/);
  });

  it('refuses a name Discord refuses as a webhook name, saying why', () => {
    for (const name of ['Clyde', 'Discord Historian', 'ex-DISCORDian']) {
      expect(() => parsePersona('a.yaml', good.replace('name: Old Model', `name: ${name}`)), name).toThrow(/name[\s\S]*"discord" or "clyde"/);
    }
    expect(parsePersona('a.yaml', good.replace('name: Old Model', 'name: Discourse')).name).toBe('Discourse');
    for (const name of ['"@Opus"', '"Opus #2"', '"GPT: base"', '"Opus ```"']) {
      expect(() => parsePersona('a.yaml', good.replace('name: Old Model', `name: ${name}`)), name).toThrow(/name[\s\S]*@, #, : or ```/);
    }
    for (const name of ['everyone', 'Here']) {
      expect(() => parsePersona('a.yaml', good.replace('name: Old Model', `name: ${name}`)), name).toThrow(/name[\s\S]*"everyone" and "here"/);
    }
    expect(() => parsePersona('a.yaml', good.replace('name: Old Model', 'name: "   "'))).toThrow(/name/);
  });

  it('keeps a name as Discord stores it: spaces trimmed, runs of them made one', () => {
    expect(parsePersona('a.yaml', good.replace('name: Old Model', 'name: "  Big \t  Opus "')).name).toBe('Big Opus');
  });

  it('refuses an avatar Discord cannot fetch, saying why', () => {
    for (const url of ['file:///home/me/opus.png', 'data:image/png;base64,AAAA', 'opus.png']) {
      expect(() => parsePersona('a.yaml', `${good}avatarUrl: ${url}\n`), url).toThrow(/avatarUrl[\s\S]*http\(s\) address/);
    }
    expect(parsePersona('a.yaml', `${good}avatarUrl: https://example.org/opus.png\n`).avatarUrl).toBe('https://example.org/opus.png');
  });

  it('refuses a bad date, an unknown field and broken YAML', () => {
    expect(() => parsePersona('a.yaml', good.replace('2023-01-01', 'last spring'))).toThrow(/lifecycle\.released/);
    expect(() => parsePersona('a.yaml', `${good}\ncolour: blue\n`)).toThrow(/colour/);
    expect(() => parsePersona('a.yaml', 'id: [unclosed')).toThrow(/a\.yaml: not valid YAML/);
  });

  it('refuses a persona with no hosts', () => {
    expect(() => parsePersona('a.yaml', 'id: x\nname: X\nhosts: []\n')).toThrow(/hosts/);
  });

  it('refuses two personas answering to the same name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'personas-'));
    await writeFile(join(dir, 'a.yaml'), good);
    await writeFile(join(dir, 'b.yaml'), good.replace('id: old-model', 'id: other').replace('name: Old Model', 'name: Other'));
    await expect(loadPersonas(dir)).rejects.toThrow(/b\.yaml: aliases\.0 "oldie" is also the alias of another persona \(.*a\.yaml\)/);
  });

  it('blames the alias, not the name it repeats, and compares aliases as routing reads them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'personas-'));
    await writeFile(join(dir, 'a.yaml'), good.replace('id: old-model', 'id: other').replace('name: Old Model', 'name: Llama').replace('aliases: [oldie]', 'aliases: []'));
    // An alias with spaces around it, written in another file first: it was not seen as "llama".
    await writeFile(join(dir, '0.yaml'), good.replace('aliases: [oldie]', 'aliases: [" llama "]'));
    await expect(loadPersonas(dir)).rejects.toThrow(/0\.yaml: aliases\.0 "llama" is also the name of another persona \(.*a\.yaml\)/);
  });

  it('refuses aliases that would summon a persona in most messages, and dates out of order', () => {
    expect(() => parsePersona('a.yaml', good.replace('aliases: [oldie]', 'aliases: [the]'))).toThrow(/aliases\.0: an everyday word/);
    expect(() => parsePersona('a.yaml', good.replace('aliases: [oldie]', 'aliases: [x]'))).toThrow(/aliases\.0: an alias of one character/);
    expect(() => parsePersona('a.yaml', good.replace('aliases: [oldie]', 'aliases: ["   "]'))).toThrow(/aliases\.0: an alias is empty/);
    expect(() => parsePersona('a.yaml', good.replace('retired: 2025-01-01', 'retired: 2022-01-01'))).toThrow(/lifecycle: the dates must follow each other/);
    expect(() => parsePersona('a.yaml', good.replace('released: 2023-01-01', 'released: 2023-01-01, knowledgeCutoff: 2024-01-01'))).toThrow(/the knowledge cutoff comes before the release/);
    expect(() => parsePersona('a.yaml', good.replace('2023-01-01', '2023/01/01'))).toThrow(/a date written YYYY-MM-DD/);
  });

  it('says what is wrong with an empty file, a list, two documents, and a base URL without its scheme', () => {
    expect(() => parsePersona('a.yaml', '# nothing yet\n')).toThrow(/a\.yaml: the file is empty/);
    expect(() => parsePersona('a.yaml', '- id: x\n')).toThrow(/a\.yaml: holds a list/);
    expect(() => parsePersona('a.yaml', `${good}---\n${good}`)).toThrow(/a\.yaml: holds more than one document \(a line of ---\): one persona per file/);
    expect(() => parsePersona('a.yaml', good.replace('https://openrouter.ai/api/v1', 'localhost:11434/v1'))).toThrow(/hosts\.1\.baseUrl: an http\(s\) address/);
  });

  it('reads .yaml and .yml in any case, and passes over hidden files and folders', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'personas-'));
    await writeFile(join(dir, 'A.YAML'), good);
    await writeFile(join(dir, '._A.yaml'), 'binary resource fork');
    await mkdir(join(dir, 'old.yaml'));
    expect((await loadPersonas(dir)).map((p) => p.id)).toEqual(['old-model']);
    // A link to a file is the file (a Kubernetes ConfigMap mounts every file as one).
    const elsewhere = await mkdtemp(join(tmpdir(), 'persona-target-'));
    await writeFile(join(elsewhere, 'b.yaml'), good.replace('id: old-model', 'id: linked').replace('name: Old Model', 'name: Linked').replace('aliases: [oldie]', 'aliases: []'));
    await symlink(join(elsewhere, 'b.yaml'), join(dir, 'b.yaml'));
    expect((await loadPersonas(dir)).map((p) => p.id)).toEqual(['old-model', 'linked']);
  });

  it('warns of a base URL the SDK would not find its API under', () => {
    const p = parsePersona('a.yaml', good.replace('https://openrouter.ai/api/v1', 'http://localhost:11434'));
    expect(hostWarnings(p)).toEqual([expect.stringMatching(/^hosts\.1\.baseUrl has no path/)]);
    // Services that document another address are not doubted.
    for (const url of ['https://api.deepseek.com', 'https://api.perplexity.ai/', 'https://generativelanguage.googleapis.com/v1beta/openai/', 'https://x.openai.azure.com/openai/deployments/gpt4'])
      expect(hostWarnings(parsePersona('a.yaml', good.replace('https://openrouter.ai/api/v1', url)))).toEqual([]);
    expect(hostWarnings(parsePersona('a.yaml', good))).toEqual([]);
    const anthropic = parsePersona('a.yaml', good.replace('{ provider: anthropic, model: claude-old }', '{ provider: anthropic, model: claude-old, baseUrl: https://proxy.example.org/v1 }'));
    expect(hostWarnings(anthropic)).toEqual([expect.stringMatching(/^hosts\.0\.baseUrl ends in \/v1/)]);
  });

  it('refuses two files with the same persona id, naming both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'personas-'));
    await writeFile(join(dir, 'a.yaml'), good);
    await writeFile(join(dir, 'b.yaml'), good);
    await expect(loadPersonas(dir)).rejects.toThrow(/b\.yaml: id "old-model" is already used by .*a\.yaml/);
  });

  it('refuses a file too large to be a persona, before reading it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'personas-'));
    await writeFile(join(dir, 'huge.yaml'), `${good}\nsystemPrompt: "${'x'.repeat(5 * 1024 * 1024)}"\n`);
    await expect(loadPersonas(dir)).rejects.toThrow(/huge\.yaml: 5\d{3} KiB is too large for a persona file \(at most 256 KiB\)/);
  });

  it('loads the shipped example personas', async () => {
    const personas = await loadPersonas('personas');
    expect(personas.length).toBeGreaterThanOrEqual(4);
    const kinds = new Set(personas.flatMap((p) => p.hosts.map((h) => h.provider)));
    expect(kinds).toEqual(new Set(['anthropic', 'openai', 'completions']));
    expect(personas.some((p) => p.lifecycle.retired)).toBe(true);
  });

  it('lists a persona whose key is unset as unavailable instead of failing', () => {
    const p = parsePersona('old.yaml', good);
    expect(availability([p], {})).toEqual([{ persona: p, usableHosts: 0, missingKeys: ['ANTHROPIC_API_KEY', 'OPENROUTER_API_KEY'] }]);
    expect(availability([p], { OPENROUTER_API_KEY: 'k' })[0]?.usableHosts).toBe(1);
  });
});

// The files people deploy chorus with agree with the code they run. No Docker engine runs here, so
// these read docker-compose.yml and the Dockerfile as Compose and Docker would: a YAML merge key is
// shallow, an image holds only what is copied into it, and `npm ci --omit=dev` leaves devDependencies out.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules, stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { shippedStart } from '../../bench/measure.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
// `merge: true`: YAML 1.1 merge keys, as Compose reads them.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };

/** Where in the container a service mounts `source` (a host path or a named volume). */
function mountOf(service: Service, source: string): string | undefined {
  return service.volumes?.map((v) => v.split(':')).find(([from]) => from === source)?.[1];
}

describe('docker-compose.yml', () => {
  it('gives the gateway and the worker the redis service, the mounted personas and the records volume', () => {
    for (const name of ['gateway', 'worker']) {
      const service = services[name]!;
      const env = service.environment ?? {};
      expect(env['REDIS_URL'], name).toBe('redis://redis:6379');
      expect(env['PERSONAS_DIR'], name).toBe(mountOf(service, './personas'));
      expect(env['RECORDS_PATH']?.startsWith(`${mountOf(service, 'records')}/`), name).toBe(true);
    }
    // Both read the same personas and keep the same records: the gateway routes to whom the workers answer as.
    const { gateway, worker } = services;
    for (const key of ['PERSONAS_DIR', 'RECORDS_PATH', 'REDIS_URL']) expect(gateway!.environment?.[key], key).toBe(worker!.environment?.[key]);
  });

  it('gives the playground the redis service, the mounted personas and the records volume', () => {
    const playground = services['playground']!;
    expect(playground.environment?.['REDIS_URL']).toBe('redis://redis:6379');
    expect(playground.environment?.['PERSONAS_DIR']).toBe(mountOf(playground, './personas'));
    expect(playground.environment?.['PLAYGROUND_RECORDS_PATH']?.startsWith(`${mountOf(playground, 'records')}/`)).toBe(true);
  });

  it('starts the gateway and the worker as their npm scripts do', () => {
    for (const [name, script] of [['gateway', 'start:gateway'], ['worker', 'start:worker']] as const) {
      const words = pkg.scripts[script]!.split(' ');
      const entry = words.at(-1)!;
      const shipped = shippedStart(script);
      expect(services[name]!.command, name).toEqual(['node', ...shipped.nodeArgs, entry]);
      for (const [key, value] of Object.entries(shipped.env)) expect(services[name]!.environment?.[key], `${name} ${key}`).toBe(value);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const copied = new Set([...dockerfile.matchAll(/^COPY (?!--from)(\S+) \.\/\S*$/gm)].map((m) => m[1]!));

  it('warms the compile cache with the flags compose starts each process with (the cache is kept per set of flags)', () => {
    const warmed = [...(/for entry in (.*); do/.exec(dockerfile)?.[1] ?? '').matchAll(/"([^"]+)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
    for (const name of ['gateway', 'worker']) expect(warmed, name).toContain(services[name]!.command!.slice(1).join(' '));
  });

  it('holds every module the shipped entry points load, and their packages are production dependencies', () => {
    const entries = ['bot/main.ts', 'workers/main.ts', ...readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts')).map((f) => `scripts/${f}`)];
    const { files, packages } = runtimeImports(entries);
    const outside = [...files].filter((f) => !copied.has(f.split('/')[0]!));
    expect(outside).toEqual([]);
    const installed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})]);
    expect([...packages].filter((p) => !installed.has(p))).toEqual([]);
    // The walk did reach the code (a broken pattern would pass an empty set).
    expect(files.has('core/discord.ts') && files.has('commands/index.ts') && files.has('schema/transcript-event.schema.json') && packages.has('bullmq')).toBe(true);
  });

  it('keeps the gateway off what only workers need: the model SDKs and the undici package (its memory is a target)', () => {
    const gateway = runtimeImports(['bot/main.ts']);
    expect([...gateway.packages].filter((p) => ['@anthropic-ai/sdk', 'openai', 'undici'].includes(p))).toEqual([]);
    expect(gateway.files.has('core/hosts/fallback.ts')).toBe(true); // it does reach the host code it needs
    expect(runtimeImports(['workers/main.ts']).packages).toContain('openai');
  });
});

/**
 * The files (relative to the root) and packages the entry points load at run time, following
 * relative imports. Types are stripped first as Node strips them, so `import type` loads nothing.
 */
function runtimeImports(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set(builtinModules);
  // A static import or re-export at the start of a line, import('…'), require('…'), or a file read
  // beside the module: new URL('…', import.meta.url).
  const specifiers = /^\s*(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"\s]+)['"]|\bimport\(\s*['"]([^'"\s]+)['"]\s*\)|\brequire\(\s*['"]([^'"\s]+)['"]\s*\)|\bnew URL\(\s*['"](\.[^'"\s]+)['"],\s*import\.meta\.url/gm;
  const pending = [...entries];
  while (pending.length) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const code = stripTypeScriptTypes(read(file));
    for (const m of code.matchAll(specifiers)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      if (spec.startsWith('.')) {
        const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
        if (existsSync(join(ROOT, target)) && /\.[cm]?[jt]s$/.test(target)) pending.push(target);
        else files.add(target); // a JSON file or a folder read at run time
      } else if (!spec.startsWith('node:') && !builtins.has(spec)) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  }
  return { files, packages };
}

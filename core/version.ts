// chorus's version, recorded in every transcript header.
import { readFileSync } from 'node:fs';

export const chorusVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

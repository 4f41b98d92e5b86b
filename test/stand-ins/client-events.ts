import type { Client } from 'discord.js';

/** Resolves with the next event of this name the client emits that passes the filter. */
export function nextEvent<T>(client: Client, event: string, filter: (x: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (x: T) => {
      if (!filter(x)) return;
      client.off(event, listener);
      resolve(x);
    };
    client.on(event, listener);
  });
}

// A Map for what a long-running process remembers per channel, thread or webhook: those come and
// go for good, so what it holds is bounded, the least recently used forgotten first.

/** A Map that forgets its least recently used entry beyond `size`. */
export function boundedMap<V>(size: number) {
  const map = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      const value = map.get(key);
      if (value !== undefined) {
        map.delete(key);
        map.set(key, value);
      }
      return value;
    },
    set(key: string, value: V): void {
      map.delete(key);
      map.set(key, value);
      if (map.size > size) map.delete(map.keys().next().value!);
    },
    delete(key: string): boolean {
      return map.delete(key);
    },
  };
}

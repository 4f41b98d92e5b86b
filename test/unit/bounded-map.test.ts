import { describe, expect, it } from 'vitest';
import { boundedMap } from '../../core/bounded-map.ts';

describe('boundedMap', () => {
  it('holds at most its size, forgetting the entry used least recently, and forgets on delete', () => {
    const m = boundedMap<string | null>(2);
    m.set('a', 'A');
    m.set('b', null);
    expect(m.get('a')).toBe('A'); // a is now the most recently used
    m.set('c', 'C');
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual(['A', undefined, 'C']);
    expect(m.delete('a')).toBe(true);
    expect(m.get('a')).toBeUndefined();
    m.set('d', 'D');
    expect([m.get('c'), m.get('d')]).toEqual(['C', 'D']);
  });
});

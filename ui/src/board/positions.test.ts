import { describe, expect, it } from 'vitest';
import { compareCards, isSamePlace, positionBetween, positionForDrop, respace } from './positions.ts';

const cards = [
  { id: 'a', position: 1 },
  { id: 'b', position: 2 },
  { id: 'c', position: 4 },
];

describe('positionBetween', () => {
  it('takes the midpoint between two cards', () => {
    expect(positionBetween(1, 2)).toBe(1.5);
    expect(positionBetween(-3, 5)).toBe(1);
  });

  it('steps past either end, and starts an empty column at 1', () => {
    expect(positionBetween(undefined, 2)).toBe(1);
    expect(positionBetween(4, undefined)).toBe(5);
    expect(positionBetween(undefined, undefined)).toBe(1);
  });

  it('says when no float fits between', () => {
    expect(positionBetween(1, 1)).toBeNull();
    expect(positionBetween(2, 1)).toBeNull();
    expect(positionBetween(1, 1 + Number.EPSILON)).toBeNull();
  });

  it('keeps finding room for many drops into the same gap', () => {
    let after = 2;
    for (let i = 0; i < 40; i++) {
      const next = positionBetween(1, after);
      if (next === null) throw new Error('no room left');
      after = next;
    }
  });
});

describe('positionForDrop', () => {
  it('drops between two cards', () => {
    expect(positionForDrop(cards, 'x', 'c')).toBe(3);
    expect(positionForDrop(cards, 'x', 'b')).toBe(1.5);
  });

  it('drops at the top and the end', () => {
    expect(positionForDrop(cards, 'x', 'a')).toBe(0);
    expect(positionForDrop(cards, 'x', null)).toBe(5);
    expect(positionForDrop([], 'x', null)).toBe(1);
  });

  it('ignores the moved card in its own column', () => {
    // Moving a (1) to just before c: between b (2) and c (4).
    expect(positionForDrop(cards, 'a', 'c')).toBe(3);
    // Moving c to the top.
    expect(positionForDrop(cards, 'c', 'a')).toBe(0);
  });

  it('lands before the first unloaded card at the end of a partly loaded column', () => {
    expect(positionForDrop(cards, 'x', null, 6)).toBe(5);
    expect(positionForDrop(cards, 'x', null, 4.5)).toBe(4.25);
  });
});

describe('board order', () => {
  it('sorts by position, then id', () => {
    const sorted = [
      { id: 'b', position: 1 },
      { id: 'a', position: 1 },
      { id: 'c', position: 0.5 },
    ].sort(compareCards);
    expect(sorted.map((c) => c.id)).toEqual(['c', 'a', 'b']);
  });

  it('knows when a drop changes nothing', () => {
    expect(isSamePlace(cards, 'a', 'b')).toBe(true);
    expect(isSamePlace(cards, 'c', null)).toBe(true);
    expect(isSamePlace(cards, 'a', 'c')).toBe(false);
    expect(isSamePlace(cards, 'x', null)).toBe(false);
  });
});

describe('respace', () => {
  it('numbers a fully loaded column from its lowest position', () => {
    expect([...respace(['a', 'b', 'c'], 0)]).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('fits a partly loaded column below its first unloaded card', () => {
    const positions = respace(['a', 'b', 'c'], 0, 2);
    expect([...positions.values()]).toEqual([0.5, 1, 1.5]);
  });
});

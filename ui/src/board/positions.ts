/**
 * Card order. A task's `position` is a float, smaller is higher; a card dropped between two
 * others takes the midpoint of their positions, so a move changes one row.
 */

/** Spacing of cards placed at either end of a column. */
export const STEP = 1;

/**
 * A position strictly between `before` and `after` (either may be missing: the top or the end
 * of a column), or null when the two are so close that no float fits between them.
 */
export function positionBetween(before: number | undefined, after: number | undefined): number | null {
  if (after === undefined) return before === undefined ? STEP : before + STEP;
  if (before === undefined) return after - STEP;
  if (!(before < after)) return null;
  const mid = before + (after - before) / 2;
  return mid > before && mid < after ? mid : null;
}

export interface Placed {
  id: string;
  position: number;
}

/**
 * Where a card goes when dropped before the card `beforeId` (null: at the end) of `cards`, the
 * column in board order. The moved card itself is ignored if it is in the list. `nextUnloaded`
 * is the position of the first card of the column that is not loaded (column paging), so a
 * card dropped at the end of a partly loaded column lands before it.
 */
export function positionForDrop(
  cards: readonly Placed[],
  movedId: string,
  beforeId: string | null,
  nextUnloaded?: number,
): number | null {
  const others = cards.filter((card) => card.id !== movedId);
  const index = beforeId === null ? others.length : others.findIndex((card) => card.id === beforeId);
  const at = index < 0 ? others.length : index;
  const before = others[at - 1]?.position;
  const after = at < others.length ? others[at]?.position : nextUnloaded;
  return positionBetween(before, after);
}

/** Board order: position, then id (as the server sorts). */
export function compareCards(a: Placed, b: Placed): number {
  return a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Whether a drop would leave the card where it is. */
export function isSamePlace(cards: readonly Placed[], movedId: string, beforeId: string | null): boolean {
  const index = cards.findIndex((card) => card.id === movedId);
  if (index < 0) return false;
  const next = cards[index + 1];
  return beforeId === movedId || (beforeId === null ? next === undefined : next?.id === beforeId);
}

/**
 * New positions for a column whose cards got too close to take a midpoint: `order` (ids in
 * the wanted order) spread evenly below `upper` (the first unloaded card's position), or 1, 2,
 * 3, … when the whole column is loaded.
 */
export function respace(order: readonly string[], lower: number, upper?: number): Map<string, number> {
  const positions = new Map<string, number>();
  const step = upper === undefined ? STEP : (upper - lower) / (order.length + 1);
  order.forEach((id, i) => positions.set(id, lower + step * (i + 1)));
  return positions;
}

/**
 * Moving cards without a mouse, and the shared idea of a drop target. The board hands these
 * functions what it shows (each column's visible card ids, in order); they answer where a
 * picked-up card would go, which card an arrow key focuses, and what to announce.
 */
import type { TaskStatus } from '../api/types.ts';
import { columnTitle } from './columns.ts';

/** Before `beforeId` in `status`, or at its end when null. */
export interface DropTarget {
  status: TaskStatus;
  beforeId: string | null;
}

export interface ColumnView {
  status: TaskStatus;
  ids: readonly string[];
}

export type Arrow = 'ArrowUp' | 'ArrowDown' | 'ArrowLeft' | 'ArrowRight';

export function isArrow(key: string): key is Arrow {
  return key === 'ArrowUp' || key === 'ArrowDown' || key === 'ArrowLeft' || key === 'ArrowRight';
}

function columnOf(view: readonly ColumnView[], taskId: string): number {
  return view.findIndex((column) => column.ids.includes(taskId));
}

/** Where a card is now, as a drop target (so dropping it there changes nothing). */
export function currentTarget(view: readonly ColumnView[], taskId: string): DropTarget | null {
  const column = view[columnOf(view, taskId)];
  if (!column) return null;
  const index = column.ids.indexOf(taskId);
  return { status: column.status, beforeId: column.ids[index + 1] ?? null };
}

/** The target one arrow key away: up/down within a column, left/right to the next column. */
export function stepTarget(view: readonly ColumnView[], taskId: string, target: DropTarget, arrow: Arrow): DropTarget {
  const columnIndex = view.findIndex((column) => column.status === target.status);
  const column = view[columnIndex];
  if (!column) return target;
  const others = column.ids.filter((id) => id !== taskId);
  const index = target.beforeId === null ? others.length : Math.max(0, others.indexOf(target.beforeId));
  switch (arrow) {
    case 'ArrowUp':
      return index === 0 ? target : { status: column.status, beforeId: others[index - 1] ?? null };
    case 'ArrowDown':
      return index >= others.length ? target : { status: column.status, beforeId: others[index + 1] ?? null };
    case 'ArrowLeft':
    case 'ArrowRight': {
      const next = view[columnIndex + (arrow === 'ArrowLeft' ? -1 : 1)];
      if (!next) return target;
      const nextOthers = next.ids.filter((id) => id !== taskId);
      return { status: next.status, beforeId: nextOthers[Math.min(index, nextOthers.length)] ?? null };
    }
  }
}

/** The card an arrow key moves focus to, or null to stay. Left/right skip empty columns. */
export function neighbourCard(view: readonly ColumnView[], taskId: string, arrow: Arrow): string | null {
  const columnIndex = columnOf(view, taskId);
  const column = view[columnIndex];
  if (!column) return null;
  const index = column.ids.indexOf(taskId);
  if (arrow === 'ArrowUp') return column.ids[index - 1] ?? null;
  if (arrow === 'ArrowDown') return column.ids[index + 1] ?? null;
  const step = arrow === 'ArrowLeft' ? -1 : 1;
  for (let c = columnIndex + step; c >= 0 && c < view.length; c += step) {
    const ids = view[c]?.ids ?? [];
    if (ids.length > 0) return ids[Math.min(index, ids.length - 1)] ?? null;
  }
  return null;
}

/** "In progress, position 2 of 3": where the card would land, for screen readers. */
export function describeTarget(view: readonly ColumnView[], taskId: string, target: DropTarget): string {
  const column = view.find((c) => c.status === target.status);
  const others = column ? column.ids.filter((id) => id !== taskId) : [];
  const index = target.beforeId === null ? others.length : Math.max(0, others.indexOf(target.beforeId));
  return `${columnTitle(target.status)}, position ${index + 1} of ${others.length + 1}`;
}

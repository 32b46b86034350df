/**
 * Dragging a card with a pointer (mouse, pen, touch): a press becomes a drag after a few
 * pixels; while it moves, the column and the spot under the pointer are the drop target;
 * letting go drops, Escape or a cancelled pointer puts the card back.
 */
import type { PointerEvent as ReactPointerEvent } from 'react';
import type { TaskStatus } from '../api/types.ts';
import type { DropTarget } from './dnd.ts';

/** Pixels a pressed pointer must travel before a press becomes a drag. */
export const DRAG_THRESHOLD = 5;

export interface DragStart {
  x: number;
  y: number;
  /** Where in the card it was grabbed, so the ghost does not jump. */
  offsetX: number;
  offsetY: number;
  width: number;
}

export interface DragCallbacks {
  onStart: (start: DragStart) => void;
  onMove: (x: number, y: number, target: DropTarget | null) => void;
  /** `target` is null when the drag was cancelled or ended outside every column. */
  onEnd: (target: DropTarget | null) => void;
}

/** The column and the spot in it under a point on the screen (`[data-column]` sections). */
export function hitTest(x: number, y: number, movingId: string): DropTarget | null {
  for (const section of document.querySelectorAll<HTMLElement>('[data-column]')) {
    const box = section.getBoundingClientRect();
    if (x < box.left || x > box.right || y < box.top || y > box.bottom) continue;
    const status = section.dataset['column'] as TaskStatus;
    for (const card of section.querySelectorAll<HTMLElement>('[data-card-id]')) {
      const id = card.dataset['cardId'];
      if (!id || id === movingId) continue;
      const rect = card.getBoundingClientRect();
      if (y < rect.top + rect.height / 2) return { status, beforeId: id };
    }
    return { status, beforeId: null };
  }
  return null;
}

/** Follows a press on a card until it ends; calls back only if it became a drag. */
export function trackPointerDrag(event: ReactPointerEvent<HTMLElement>, taskId: string, callbacks: DragCallbacks): void {
  const card = event.currentTarget;
  const start = { x: event.clientX, y: event.clientY };
  let dragging = false;
  let target: DropTarget | null = null;

  const onMove = (e: PointerEvent) => {
    if (!dragging) {
      if (Math.hypot(e.clientX - start.x, e.clientY - start.y) < DRAG_THRESHOLD) return;
      dragging = true;
      const box = card.getBoundingClientRect();
      document.body.classList.add('is-dragging');
      callbacks.onStart({
        x: e.clientX,
        y: e.clientY,
        offsetX: start.x - box.left,
        offsetY: start.y - box.top,
        width: box.width,
      });
    }
    target = hitTest(e.clientX, e.clientY, taskId);
    callbacks.onMove(e.clientX, e.clientY, target);
  };
  const finish = (drop: boolean) => {
    window.removeEventListener('pointermove', onMove);
    window.removeEventListener('pointerup', onUp);
    window.removeEventListener('pointercancel', onCancel);
    window.removeEventListener('keydown', onEscape, true);
    document.body.classList.remove('is-dragging');
    if (dragging) callbacks.onEnd(drop ? target : null);
  };
  const onUp = () => {
    finish(true);
  };
  const onCancel = () => {
    finish(false);
  };
  const onEscape = (e: KeyboardEvent) => {
    if (e.key !== 'Escape' || !dragging) return;
    e.preventDefault();
    e.stopPropagation();
    finish(false);
  };
  window.addEventListener('pointermove', onMove);
  window.addEventListener('pointerup', onUp);
  window.addEventListener('pointercancel', onCancel);
  window.addEventListener('keydown', onEscape, true);
}

import type { PointerEvent as ReactPointerEvent } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hitTest, trackPointerDrag } from './pointerDrag.ts';

/** jsdom does no layout: place elements by hand. */
function place(element: HTMLElement, left: number, top: number, width: number, height: number) {
  element.getBoundingClientRect = () => new DOMRect(left, top, width, height);
}

function boardDom() {
  document.body.innerHTML = `
    <section data-column="backlog"><div data-card-id="a"></div><div data-card-id="b"></div></section>
    <section data-column="queued"></section>`;
  const [backlog, queued] = document.querySelectorAll<HTMLElement>('section');
  const [a, b] = document.querySelectorAll<HTMLElement>('[data-card-id]');
  if (!backlog || !queued || !a || !b) throw new Error('no board');
  place(backlog, 0, 0, 200, 400);
  place(queued, 220, 0, 200, 400);
  place(a, 10, 40, 180, 40);
  place(b, 10, 90, 180, 40);
  return { a };
}

afterEach(() => {
  document.body.innerHTML = '';
});

describe('hitTest', () => {
  it('finds the column and the card to land before', () => {
    boardDom();
    expect(hitTest(50, 50, 'x')).toEqual({ status: 'backlog', beforeId: 'a' });
    expect(hitTest(50, 70, 'x')).toEqual({ status: 'backlog', beforeId: 'b' });
    expect(hitTest(50, 300, 'x')).toEqual({ status: 'backlog', beforeId: null });
    expect(hitTest(300, 10, 'x')).toEqual({ status: 'queued', beforeId: null });
    expect(hitTest(210, 10, 'x')).toBeNull();
  });

  it('looks past the card being moved', () => {
    boardDom();
    expect(hitTest(50, 50, 'a')).toEqual({ status: 'backlog', beforeId: 'b' });
  });
});

function pointer(type: string, x: number, y: number) {
  window.dispatchEvent(new MouseEvent(type, { clientX: x, clientY: y }));
}

describe('trackPointerDrag', () => {
  function press(card: HTMLElement) {
    const callbacks = { onStart: vi.fn(), onMove: vi.fn(), onEnd: vi.fn() };
    const event = { currentTarget: card, clientX: 20, clientY: 50 } as unknown as ReactPointerEvent<HTMLElement>;
    trackPointerDrag(event, 'a', callbacks);
    return callbacks;
  }

  it('is a click, not a drag, until the pointer travels', () => {
    const { a } = boardDom();
    const callbacks = press(a);
    pointer('pointermove', 22, 51);
    pointer('pointerup', 22, 51);
    expect(callbacks.onStart).not.toHaveBeenCalled();
    expect(callbacks.onEnd).not.toHaveBeenCalled();
  });

  it('drops where the pointer is let go', () => {
    const { a } = boardDom();
    const callbacks = press(a);
    pointer('pointermove', 40, 60);
    expect(callbacks.onStart).toHaveBeenCalledWith({ x: 40, y: 60, offsetX: 10, offsetY: 10, width: 180 });
    pointer('pointermove', 300, 100);
    expect(callbacks.onMove).toHaveBeenLastCalledWith(300, 100, { status: 'queued', beforeId: null });
    pointer('pointerup', 300, 100);
    expect(callbacks.onEnd).toHaveBeenCalledWith({ status: 'queued', beforeId: null });
    expect(document.body.classList.contains('is-dragging')).toBe(false);
    // Nothing listens any more.
    pointer('pointerup', 0, 0);
    expect(callbacks.onEnd).toHaveBeenCalledOnce();
  });

  it('puts the card back on Escape', () => {
    const { a } = boardDom();
    const callbacks = press(a);
    pointer('pointermove', 300, 100);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    expect(callbacks.onEnd).toHaveBeenCalledWith(null);
  });
});

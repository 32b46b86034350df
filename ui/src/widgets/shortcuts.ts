/**
 * Page-wide keyboard shortcuts. Keys typed into a field belong to the field (Escape too, so
 * it never throws away what is being typed), and keys with Ctrl, Alt or Meta belong to the
 * browser.
 */
import { useEffect, useRef } from 'react';

export type Shortcuts = Partial<Record<string, (event: KeyboardEvent) => void>>;

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

/** Calls the handler named by `event.key` while mounted. */
export function useShortcuts(shortcuts: Shortcuts, enabled = true): void {
  const latest = useRef(shortcuts);
  useEffect(() => {
    latest.current = shortcuts;
  });
  useEffect(() => {
    if (!enabled) return;
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
      if (isTyping(event.target)) return;
      // A dialog handles its own keys.
      if (event.target instanceof Element && event.target.closest('[role="dialog"]')) return;
      const handler = latest.current[event.key];
      if (!handler) return;
      handler(event);
    };
    window.addEventListener('keydown', onKeyDown);
    return () => {
      window.removeEventListener('keydown', onKeyDown);
    };
  }, [enabled]);
}

export const BOARD_SHORTCUTS: readonly (readonly [string, string])[] = [
  ['n', 'New task'],
  ['/', 'Filter the cards'],
  ['↑ ↓ ← →', 'Move between cards'],
  ['Enter', 'Open the focused card'],
  ['e', 'Edit the focused card'],
  ['Space', 'Pick up the focused card; arrows move it; Space drops it; Esc puts it back'],
  ['Esc', 'Close a dialog, clear the filter, go back'],
  ['?', 'This help'],
];

/**
 * Light/dark theme: the user's explicit choice (kept in localStorage) wins,
 * otherwise the system's `prefers-color-scheme` decides.
 *
 * The pure functions take their inputs (storage, media query result) as
 * arguments so they can be tested without a browser; `useTheme` wires them to
 * the real window.
 */
import { useCallback, useEffect, useState } from 'react';

export type Theme = 'light' | 'dark';

export const THEME_STORAGE_KEY = 'taskyard.theme';
export const DARK_QUERY = '(prefers-color-scheme: dark)';

/** Only the parts of `Storage` the theme needs, so tests can pass a fake. */
export type ThemeStorage = Pick<Storage, 'getItem' | 'setItem'>;

export function isTheme(value: unknown): value is Theme {
  return value === 'light' || value === 'dark';
}

/**
 * The remembered choice, or null when there is none. Storage can throw
 * (disabled cookies, private modes), which counts as "no choice".
 */
export function readStoredTheme(storage: ThemeStorage | undefined): Theme | null {
  try {
    const value = storage?.getItem(THEME_STORAGE_KEY);
    return isTheme(value) ? value : null;
  } catch {
    return null;
  }
}

/** Remembers the choice; failure to store only loses it for the next visit. */
export function storeTheme(storage: ThemeStorage | undefined, theme: Theme): void {
  try {
    storage?.setItem(THEME_STORAGE_KEY, theme);
  } catch {
    // Nothing to do: the theme still applies to this page.
  }
}

export function systemTheme(prefersDark: boolean): Theme {
  return prefersDark ? 'dark' : 'light';
}

export function resolveTheme(stored: Theme | null, prefersDark: boolean): Theme {
  return stored ?? systemTheme(prefersDark);
}

export function otherTheme(theme: Theme): Theme {
  return theme === 'dark' ? 'light' : 'dark';
}

/** The stylesheet keys its variables off `data-theme` on the root element. */
export function applyTheme(root: HTMLElement, theme: Theme): void {
  root.dataset['theme'] = theme;
}

function browserStorage(): ThemeStorage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

/** Some environments (older webviews, jsdom) lack matchMedia. */
function darkQuery(): MediaQueryList | undefined {
  return typeof window.matchMedia === 'function' ? window.matchMedia(DARK_QUERY) : undefined;
}

/** The theme to show right now in this browser. */
export function currentTheme(): Theme {
  return resolveTheme(readStoredTheme(browserStorage()), darkQuery()?.matches ?? false);
}

/**
 * The theme as React state. Follows the system setting until the user picks
 * one with `toggle`; from then on the stored choice wins.
 */
export function useTheme(): { theme: Theme; toggle: () => void } {
  const [theme, setTheme] = useState<Theme>(currentTheme);

  useEffect(() => {
    applyTheme(document.documentElement, theme);
  }, [theme]);

  useEffect(() => {
    const query = darkQuery();
    if (!query) return;
    const onChange = (event: MediaQueryListEvent) => {
      if (readStoredTheme(browserStorage()) === null) setTheme(systemTheme(event.matches));
    };
    query.addEventListener('change', onChange);
    return () => {
      query.removeEventListener('change', onChange);
    };
  }, []);

  const toggle = useCallback(() => {
    const next = otherTheme(theme);
    storeTheme(browserStorage(), next);
    setTheme(next);
  }, [theme]);

  return { theme, toggle };
}

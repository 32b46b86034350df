import { act, renderHook } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import {
  THEME_STORAGE_KEY,
  applyTheme,
  otherTheme,
  readStoredTheme,
  resolveTheme,
  storeTheme,
  useTheme,
  type ThemeStorage,
} from './theme.ts';

function memoryStorage(initial: Record<string, string> = {}): ThemeStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => {
      data.set(key, value);
    },
  };
}

const throwingStorage: ThemeStorage = {
  getItem: () => {
    throw new DOMException('denied', 'SecurityError');
  },
  setItem: () => {
    throw new DOMException('full', 'QuotaExceededError');
  },
};

/** Installs a controllable `prefers-color-scheme: dark` media query. */
function stubSystemDark(initial: boolean) {
  const listeners = new Set<(event: MediaQueryListEvent) => void>();
  const query = {
    matches: initial,
    media: '(prefers-color-scheme: dark)',
    addEventListener: (_: 'change', listener: (event: MediaQueryListEvent) => void) => listeners.add(listener),
    removeEventListener: (_: 'change', listener: (event: MediaQueryListEvent) => void) => listeners.delete(listener),
  };
  vi.stubGlobal(
    'matchMedia',
    vi.fn(() => query),
  );
  return {
    set(matches: boolean) {
      query.matches = matches;
      for (const listener of listeners) listener({ matches } as MediaQueryListEvent);
    },
  };
}

describe('theme choice', () => {
  it('uses the stored choice over the system setting', () => {
    expect(resolveTheme('light', true)).toBe('light');
    expect(resolveTheme('dark', false)).toBe('dark');
  });

  it('falls back to the system setting without a stored choice', () => {
    expect(resolveTheme(null, true)).toBe('dark');
    expect(resolveTheme(null, false)).toBe('light');
  });

  it('ignores stored values that are not a theme', () => {
    expect(readStoredTheme(memoryStorage({ [THEME_STORAGE_KEY]: 'solarized' }))).toBeNull();
    expect(readStoredTheme(memoryStorage())).toBeNull();
    expect(readStoredTheme(undefined)).toBeNull();
  });

  it('round-trips a choice through storage', () => {
    const storage = memoryStorage();
    storeTheme(storage, 'dark');
    expect(storage.data.get(THEME_STORAGE_KEY)).toBe('dark');
    expect(readStoredTheme(storage)).toBe('dark');
  });

  it('treats storage that throws as having no choice', () => {
    expect(readStoredTheme(throwingStorage)).toBeNull();
    expect(() => {
      storeTheme(throwingStorage, 'dark');
    }).not.toThrow();
  });

  it('toggles between the two themes', () => {
    expect(otherTheme('light')).toBe('dark');
    expect(otherTheme('dark')).toBe('light');
  });

  it('marks the root element for the stylesheet', () => {
    const root = document.createElement('html');
    applyTheme(root, 'dark');
    expect(root.dataset['theme']).toBe('dark');
  });
});

describe('useTheme', () => {
  it('starts from the system setting and follows it until the user chooses', () => {
    const system = stubSystemDark(true);
    const { result } = renderHook(() => useTheme());
    expect(result.current.theme).toBe('dark');
    expect(document.documentElement.dataset['theme']).toBe('dark');

    act(() => {
      system.set(false);
    });
    expect(result.current.theme).toBe('light');

    act(() => {
      result.current.toggle();
    });
    expect(result.current.theme).toBe('dark');
    expect(window.localStorage.getItem(THEME_STORAGE_KEY)).toBe('dark');

    // An explicit choice is no longer overridden by the system.
    act(() => {
      system.set(false);
    });
    expect(result.current.theme).toBe('dark');
  });

  it('starts from a remembered choice', () => {
    stubSystemDark(true);
    window.localStorage.setItem(THEME_STORAGE_KEY, 'light');
    const { result } = renderHook(() => useTheme());
    expect(result.current.theme).toBe('light');
  });
});

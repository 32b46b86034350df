import type { Theme } from './theme.ts';

/** Says what the button will do, not what is on: "Switch to dark theme". */
export function ThemeToggle({ theme, onToggle }: { theme: Theme; onToggle: () => void }) {
  const target = theme === 'dark' ? 'light' : 'dark';
  const label = `Switch to ${target} theme`;
  return (
    <button type="button" className="icon-button" aria-label={label} title={label} onClick={onToggle}>
      <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span>
    </button>
  );
}

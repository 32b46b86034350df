import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { elapsed, relativeTime } from './time.ts';
import { useShortcuts } from './shortcuts.ts';

describe('time', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');

  it('says how long ago', () => {
    expect(relativeTime('2026-01-10T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-01-10T11:55:00Z', now)).toBe('5 min ago');
    expect(relativeTime('2026-01-10T09:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime('2026-01-08T12:00:00Z', now)).toBe('2 d ago');
    expect(relativeTime('2025-12-01T12:00:00Z', now)).toBe('2025-12-01');
    expect(relativeTime('not a time', now)).toBe('');
  });

  it('says how long something took, or has been going', () => {
    expect(elapsed('2026-01-10T11:59:00Z', '2026-01-10T11:59:42Z')).toBe('42 s');
    expect(elapsed('2026-01-10T11:00:00Z', '2026-01-10T11:02:05Z')).toBe('2 min 5 s');
    expect(elapsed('2026-01-10T09:00:00Z', null, now)).toBe('3 h 0 min');
  });
});

function Keys({ onN, onEscape }: { onN: () => void; onEscape: () => void }) {
  useShortcuts({ n: onN, Escape: onEscape });
  return <input aria-label="field" />;
}

describe('useShortcuts', () => {
  it('calls the handler for a key, but not while typing or with modifiers', async () => {
    const onN = vi.fn();
    const onEscape = vi.fn();
    const user = userEvent.setup();
    render(<Keys onN={onN} onEscape={onEscape} />);
    await user.keyboard('n');
    expect(onN).toHaveBeenCalledOnce();
    await user.keyboard('{Control>}n{/Control}');
    expect(onN).toHaveBeenCalledOnce();
    await user.click(screen.getByLabelText('field'));
    await user.keyboard('n{Escape}');
    expect(onN).toHaveBeenCalledOnce();
    expect(onEscape).not.toHaveBeenCalled();
    expect(screen.getByLabelText('field')).toHaveValue('n');
  });
});

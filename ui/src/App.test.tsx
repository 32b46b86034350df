import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { App } from './App.tsx';
import { THEME_STORAGE_KEY } from './theme.ts';

function serverAnswers(response: () => Promise<Response>) {
  const fetch = vi.fn(response);
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

describe('App', () => {
  it('has the landmarks and the product name', () => {
    serverAnswers(() => Promise.resolve(new Response('ok')));
    render(<App />);
    expect(screen.getByRole('banner')).toHaveTextContent('Taskyard');
    expect(screen.getByRole('main', { name: 'Board' })).toBeInTheDocument();
    expect(screen.getByRole('contentinfo')).toBeInTheDocument();
  });

  it('shows "connected" when /health answers', async () => {
    const fetch = serverAnswers(() => Promise.resolve(new Response('ok')));
    render(<App />);
    expect(await screen.findByText('connected')).toBeInTheDocument();
    expect(fetch).toHaveBeenCalledWith('/health', expect.anything());
  });

  it('shows "server unreachable" when /health fails', async () => {
    serverAnswers(() => Promise.reject(new TypeError('Failed to fetch')));
    render(<App />);
    expect(await screen.findByRole('status')).toHaveTextContent('server unreachable');
  });

  it('shows "server unreachable" when /health answers with an error', async () => {
    serverAnswers(() => Promise.resolve(new Response('not ready', { status: 503 })));
    render(<App />);
    expect(await screen.findByText('server unreachable')).toBeInTheDocument();
  });

  it('toggles the theme and remembers the choice', async () => {
    serverAnswers(() => Promise.resolve(new Response('ok')));
    const user = userEvent.setup();
    render(<App />);
    // jsdom has no matchMedia, so the system setting reads as light.
    expect(document.documentElement.dataset['theme']).toBe('light');

    await user.click(screen.getByRole('button', { name: 'Switch to dark theme' }));
    expect(document.documentElement.dataset['theme']).toBe('dark');
    expect(window.localStorage.getItem(THEME_STORAGE_KEY)).toBe('dark');
    expect(screen.getByRole('button', { name: 'Switch to light theme' })).toBeInTheDocument();
  });
});

import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EventHub } from './api/events.ts';
import { App } from './App.tsx';
import { fakeServer, json } from './test/fakes.ts';
import { project } from './test/fixtures.ts';
import { THEME_STORAGE_KEY } from './theme.ts';

function renderApp() {
  return render(<App hub={new EventHub()} />);
}

beforeEach(() => {
  window.location.hash = '';
});

describe('App', () => {
  it('has the landmarks and the product name', async () => {
    fakeServer().on('GET /api/projects', []);
    renderApp();
    expect(screen.getByRole('banner')).toHaveTextContent('Taskyard');
    expect(await screen.findByRole('main', { name: 'Projects' })).toBeInTheDocument();
    expect(screen.getByRole('contentinfo')).toBeInTheDocument();
    expect(await screen.findByText(/No projects yet/)).toBeInTheDocument();
  });

  it('shows "connected" when /health answers', async () => {
    fakeServer().on('GET /api/projects', []);
    renderApp();
    expect(await screen.findByText('connected')).toBeInTheDocument();
  });

  it('shows "server unreachable" when /health fails', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.reject(new TypeError('Failed to fetch'))));
    renderApp();
    expect(await screen.findByText('server unreachable')).toBeInTheDocument();
    expect(await screen.findByText(/could not be reached/)).toBeInTheDocument();
  });

  it('shows "server unreachable" when /health answers with an error', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response('not ready', { status: 503 }))));
    renderApp();
    expect(await screen.findByText('server unreachable')).toBeInTheDocument();
  });

  it('routes by the address hash', async () => {
    window.location.hash = '#/projects/p404';
    fakeServer().on('GET /api/projects/p404/board', () => json(404, { error: 'not_found', message: 'project p404 not found' }));
    renderApp();
    expect(await screen.findByRole('main', { name: 'Board' })).toBeInTheDocument();
    expect(await screen.findByText('project p404 not found')).toBeInTheDocument();
  });

  it('lists projects with links to their boards', async () => {
    fakeServer().on('GET /api/projects', [project({ name: 'alpha' })]);
    renderApp();
    const link = await screen.findByRole('link', { name: 'alpha' });
    expect(link).toHaveAttribute('href', `#/projects/${project().id}`);
  });

  it('toggles the theme and remembers the choice', async () => {
    fakeServer().on('GET /api/projects', []);
    const user = userEvent.setup();
    renderApp();
    // jsdom has no matchMedia, so the system setting reads as light.
    expect(document.documentElement.dataset['theme']).toBe('light');

    await user.click(screen.getByRole('button', { name: 'Switch to dark theme' }));
    expect(document.documentElement.dataset['theme']).toBe('dark');
    expect(window.localStorage.getItem(THEME_STORAGE_KEY)).toBe('dark');
    expect(screen.getByRole('button', { name: 'Switch to light theme' })).toBeInTheDocument();
  });
});

import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { renderPage } from '../test/render.tsx';
import { QueueSection } from './QueueSection.tsx';
import { DEFAULT_SETTINGS, formFromSettings, settingsFromForm } from './queueForm.ts';

const STATUS = {
  counts: { queued: 3, running: 2, waiting_auth: 1, waiting_quota: 0 },
  active_here: 2,
  max_concurrent_here: 4,
  worktrees: { count: 3, bytes: 12_345_678 },
  sandbox: { policy: 'required', confined: true },
  settings: DEFAULT_SETTINGS,
};

describe('queue form', () => {
  it('edits waits in minutes and hours and sends seconds', () => {
    const form = formFromSettings(DEFAULT_SETTINGS);
    expect(form.auth_retry_minutes).toBe('5');
    expect(form.quota_retry_minutes).toBe('60');
    expect(form.quota_max_hours).toBe('4');
    expect(settingsFromForm(form)).toEqual({ settings: DEFAULT_SETTINGS });
    expect(settingsFromForm({ ...form, auth_retry_minutes: '1.5', quota_max_hours: '0.5' })).toEqual({
      settings: { ...DEFAULT_SETTINGS, auth_retry_seconds: 90, quota_max_seconds: 1800 },
    });
    expect(formFromSettings({ ...DEFAULT_SETTINGS, auth_retry_seconds: 90 }).auth_retry_minutes).toBe('1.5');
  });

  it('names every field that is not a number of the right kind', () => {
    const form = formFromSettings(DEFAULT_SETTINGS);
    const result = settingsFromForm({ ...form, max_per_user: '-1', max_attempts: '0', max_concurrent: '2.5', auth_retry_minutes: '', quota_backoff: 'x' });
    expect(result).toEqual({
      errors: {
        max_per_user: 'A whole number, 0 or more.',
        max_attempts: 'A whole number, 1 or more.',
        max_concurrent: 'A whole number, 0 or more.',
        auth_retry_minutes: 'A number greater than 0.',
        quota_backoff: 'A number such as 1.5.',
      },
    });
  });
});

describe('QueueSection', () => {
  it('shows the counts and this server’s share', async () => {
    fakeServer().on('GET /api/queue', STATUS);
    renderPage(<QueueSection />);
    const counts = await screen.findByLabelText('Queue counts');
    expect(within(counts).getByText('Queued').nextSibling).toHaveTextContent('3');
    expect(within(counts).getByText('Waiting for credentials').nextSibling).toHaveTextContent('1');
    expect(within(counts).getByText('This server').nextSibling).toHaveTextContent('2 of 4 at once');
    expect(within(counts).getByText('Worktrees here').nextSibling).toHaveTextContent('3 · 12 MB');
    expect(screen.getByLabelText('Runs at once on each server')).toHaveValue(0);
    expect(screen.getByText("0 = each server's own configuration (this server: 4).")).toBeInTheDocument();
  });

  it('saves the settings in seconds', async () => {
    const server = fakeServer()
      .on('GET /api/queue', STATUS)
      .on('PUT /api/queue/settings', (request: Request) => request.json());
    const user = userEvent.setup();
    renderPage(<QueueSection />);
    const retry = await screen.findByLabelText('Retry without credentials every');
    await user.clear(retry);
    await user.type(retry, '2');
    await user.clear(screen.getByLabelText('Attempts per run'));
    await user.type(screen.getByLabelText('Attempts per run'), '5');
    await user.click(screen.getByRole('button', { name: 'Save queue settings' }));
    expect(await screen.findByText('Saved.')).toBeInTheDocument();
    expect(server.requests.find((r) => r.method === 'PUT')?.body).toEqual({ ...DEFAULT_SETTINGS, auth_retry_seconds: 120, max_attempts: 5 });
  });

  it('refuses a form that is not filled in, without asking the server', async () => {
    const server = fakeServer().on('GET /api/queue', STATUS);
    const user = userEvent.setup();
    renderPage(<QueueSection />);
    await user.clear(await screen.findByLabelText('Attempts per run'));
    await user.click(screen.getByRole('button', { name: 'Save queue settings' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('A whole number, 1 or more.');
    expect(screen.getByLabelText('Attempts per run')).toHaveAttribute('aria-invalid', 'true');
    expect(server.requests.some((r) => r.method === 'PUT')).toBe(false);
  });

  it("shows the server's message when it refuses the values", async () => {
    fakeServer()
      .on('GET /api/queue', STATUS)
      .on('PUT /api/queue/settings', () =>
        json(422, { error: 'invalid', message: 'quota_max_seconds must not be below quota_retry_seconds', field: 'settings' }),
      );
    const user = userEvent.setup();
    renderPage(<QueueSection />);
    const retry = await screen.findByLabelText('Retry without credentials every');
    await user.clear(retry);
    await user.type(retry, '0.1');
    await user.click(screen.getByRole('button', { name: 'Save queue settings' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Not saved: longest usage-limit wait (quota_max_seconds) must not be below first wait after a usage limit (quota_retry_seconds)',
    );
    // What the person typed stays for them to correct.
    expect(screen.getByLabelText('Retry without credentials every')).toHaveValue(0.1);
  });
});

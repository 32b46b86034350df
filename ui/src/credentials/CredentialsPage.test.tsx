import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { renderPage } from '../test/render.tsx';
import type { CredentialView } from './api.ts';
import { CredentialsPage } from './CredentialsPage.tsx';

const NAMES = { known: ['ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'], allowed: ['MY_TOKEN'] };
const SECRET = 'ghp_TESTunit0123456789abcdefghijklmnopqrstuv';

function view(key: string, fields: Partial<CredentialView> = {}): CredentialView {
  return { key, tier: 'global', masked: `${key.slice(0, 4)}…abcd`, locked: false, updated_at: '2026-01-01T00:00:00Z', ...fields };
}

/** A server with a stateful global tier. */
function server(mode: 'local' | 'team', global: CredentialView[] = []) {
  let stored = [...global];
  const fake = fakeServer()
    .on('GET /api/auth/mode', { mode })
    .on('GET /api/credentials/names', NAMES)
    .on('GET /api/credentials/global', () => stored)
    .on('DELETE /api/credentials/global/GITHUB_TOKEN', () => {
      stored = stored.filter((one) => one.key !== 'GITHUB_TOKEN');
      return new Response(null, { status: 204 });
    });
  // The fake answers synchronously; the body it read is the last request it recorded.
  const put = (request: Request) => {
    const key = decodeURIComponent(new URL(request.url).pathname.split('/').at(-1) ?? '');
    const body = fake.requests.at(-1)?.body as { value: string; locked?: boolean };
    const saved = view(key, { masked: `${body.value.slice(0, 4)}…${body.value.slice(-4)}`, locked: body.locked ?? false });
    stored = [...stored.filter((one) => one.key !== key), saved];
    return json(200, saved);
  };
  fake.on('PUT /api/credentials/global/GITHUB_TOKEN', put).on('PUT /api/credentials/global/MY_TOKEN', put);
  return fake;
}

describe('CredentialsPage', () => {
  it('lists global values masked, marks an unreadable one and offers the OAuth token first', async () => {
    server('local', [view('GITHUB_TOKEN', { locked: true }), view('ANTHROPIC_API_KEY', { masked: null })]);
    renderPage(<CredentialsPage />);
    const table = await screen.findByRole('table');
    const github = within(table).getByRole('row', { name: /GITHUB_TOKEN/ });
    expect(within(github).getByText('GITH…abcd')).toBeInTheDocument();
    expect(within(github).getByText('locked')).toBeInTheDocument();
    const unreadable = within(table).getByRole('row', { name: /ANTHROPIC_API_KEY/ });
    expect(within(unreadable).getByText('cannot be read — set it again')).toBeInTheDocument();
    const options = within(screen.getByLabelText('Name')).getAllByRole('option').map((option) => option.textContent);
    expect(options.slice(0, 2)).toEqual(['Choose a name…', 'CLAUDE_CODE_OAUTH_TOKEN']);
    expect(options).toContain('MY_TOKEN');
    // Local mode has no user tier.
    expect(screen.queryByRole('heading', { name: 'Your credentials' })).not.toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Allowed custom names' })).toBeInTheDocument();
  });

  it('explains that Claude Code gets the API key only with API billing', async () => {
    server('local');
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    await user.selectOptions(await screen.findByLabelText('Name'), 'CLAUDE_CODE_OAUTH_TOKEN');
    expect(screen.getByText(/gets ANTHROPIC_API_KEY only when the project allows API billing/)).toBeInTheDocument();
  });

  it('sets a value write-only and shows it masked', async () => {
    const fake = server('local');
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    expect(await screen.findByText('No values stored here yet.')).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Name'), 'GITHUB_TOKEN');
    const input = screen.getByLabelText('Value');
    expect(input).toHaveAttribute('type', 'password');
    await user.type(input, SECRET);
    await user.click(screen.getByLabelText(/Lock/));
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    expect(await screen.findByText('ghp_…stuv')).toBeInTheDocument();
    expect(fake.requests.find((request) => request.method === 'PUT')).toEqual({
      method: 'PUT',
      path: '/api/credentials/global/GITHUB_TOKEN',
      body: { value: SECRET, locked: true },
    });
    expect(screen.getByLabelText('New value')).toHaveValue('');
    expect(document.body.innerHTML).not.toContain(SECRET);
  });

  it('replaces a value from its row', async () => {
    const fake = server('local', [view('GITHUB_TOKEN')]);
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    await user.click(await screen.findByRole('button', { name: 'Replace GITHUB_TOKEN' }));
    expect(screen.getByLabelText('Name')).toHaveValue('GITHUB_TOKEN');
    expect(screen.getByLabelText('New value')).toHaveFocus();
    await user.keyboard('ghp_newvalue9999');
    await user.click(screen.getByRole('button', { name: 'Replace value' }));
    expect(await screen.findByText('ghp_…9999')).toBeInTheDocument();
    expect(fake.requests.filter((request) => request.method === 'PUT')).toHaveLength(1);
  });

  it('deletes after asking', async () => {
    const fake = server('local', [view('GITHUB_TOKEN')]);
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    await user.click(await screen.findByRole('button', { name: 'Delete GITHUB_TOKEN' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete GITHUB_TOKEN?' });
    expect(fake.requests.some((request) => request.method === 'DELETE')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('No values stored here yet.')).toBeInTheDocument();
    expect(fake.requests.some((request) => request.method === 'DELETE' && request.path === '/api/credentials/global/GITHUB_TOKEN')).toBe(true);
  });

  it("shows the server's 422 at the value field", async () => {
    server('local').on('PUT /api/credentials/global/MY_TOKEN', () =>
      json(422, { error: 'invalid', message: 'The value has control characters', field: 'value' }),
    );
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    await user.selectOptions(await screen.findByLabelText('Name'), 'MY_TOKEN');
    await user.type(screen.getByLabelText('Value'), 'bad');
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    expect(await screen.findByText('The value has control characters')).toBeInTheDocument();
    expect(screen.getByLabelText('Value')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Name')).not.toHaveAttribute('aria-invalid');
  });

  it('in team mode shows your own tier and explains a locked conflict', async () => {
    server('team')
      .on('GET /api/credentials/user', [])
      .on('PUT /api/credentials/user/GITHUB_TOKEN', () =>
        json(409, { error: 'conflict', message: 'GITHUB_TOKEN is locked globally' }),
      );
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    const mine = await screen.findByRole('region', { name: 'Your credentials' });
    await user.selectOptions(await within(mine).findByLabelText('Name'), 'GITHUB_TOKEN');
    await user.type(within(mine).getByLabelText('Value'), 'ghp_mine');
    await user.click(within(mine).getByRole('button', { name: 'Set value' }));
    expect(await within(mine).findByRole('alert')).toHaveTextContent(/locked globally: an admin set it for everyone/);
  });

  it('hides the global tier and the names editor from non-admins', async () => {
    server('team')
      .on('GET /api/credentials/user', [])
      .on('GET /api/credentials/global', () => json(403, { error: 'forbidden', message: 'Only admins may' }));
    renderPage(<CredentialsPage />);
    expect(await screen.findByRole('region', { name: 'Your credentials' })).toBeInTheDocument();
    await waitFor(() => {
      expect(screen.queryByRole('region', { name: 'Global credentials' })).not.toBeInTheDocument();
    });
    expect(screen.queryByRole('heading', { name: 'Allowed custom names' })).not.toBeInTheDocument();
  });

  it('allows a custom name', async () => {
    const fake = server('local');
    fake.on('PUT /api/credentials/names', () => fake.requests.at(-1)?.body);
    const user = userEvent.setup();
    renderPage(<CredentialsPage />);
    await user.type(await screen.findByLabelText('Custom name'), 'SENTRY_TOKEN');
    await user.click(screen.getByRole('button', { name: 'Allow' }));
    expect(await screen.findByRole('button', { name: 'Remove SENTRY_TOKEN' })).toBeInTheDocument();
    expect(fake.requests.at(-1)).toEqual({ method: 'PUT', path: '/api/credentials/names', body: { allowed: ['MY_TOKEN', 'SENTRY_TOKEN'] } });
    expect(within(screen.getByLabelText('Name')).getByRole('option', { name: 'SENTRY_TOKEN' })).toBeInTheDocument();
  });
});

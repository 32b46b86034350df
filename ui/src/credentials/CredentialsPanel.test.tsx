import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { PROJECT_ID } from '../test/fixtures.ts';
import { renderPage } from '../test/render.tsx';
import type { CredentialView, Effective } from './api.ts';
import { CredentialsPanel } from './CredentialsPanel.tsx';

const BASE = `/api/projects/${PROJECT_ID}/credentials`;
const NAMES = { known: ['CLAUDE_CODE_OAUTH_TOKEN', 'GITHUB_TOKEN'], allowed: [] };

function view(key: string, fields: Partial<CredentialView> = {}): CredentialView {
  return { key, tier: 'project', masked: 'proj…1234', locked: false, updated_at: '2026-01-01T00:00:00Z', ...fields };
}

const EFFECTIVE: Effective[] = [
  { key: 'GITHUB_TOKEN', masked: 'ghp_…abcd', tier: 'global', locked: true },
  { key: 'CLAUDE_CODE_OAUTH_TOKEN', masked: 'sk-a…wxyz', tier: 'user', locked: false },
  { key: 'NPM_TOKEN', masked: 'proj…1234', tier: 'project', locked: false },
];

describe('CredentialsPanel', () => {
  it('shows the effective set with where each value comes from', async () => {
    fakeServer()
      .on('GET /api/credentials/names', NAMES)
      .on(`GET ${BASE}`, [view('NPM_TOKEN'), view('OLD_TOKEN', { masked: null })])
      .on(`GET ${BASE}/effective`, EFFECTIVE);
    renderPage(<CredentialsPanel projectId={PROJECT_ID} />);
    const table = await screen.findByRole('table', { name: 'Effective credentials' });
    const github = within(table).getByRole('row', { name: /GITHUB_TOKEN/ });
    expect(within(github).getByText('ghp_…abcd')).toBeInTheDocument();
    expect(within(github).getByText('from global')).toBeInTheDocument();
    expect(within(github).getByText('locked')).toBeInTheDocument();
    expect(within(table).getByRole('row', { name: /CLAUDE_CODE_OAUTH_TOKEN/ })).toHaveTextContent('from user');
    expect(within(table).getByRole('row', { name: /NPM_TOKEN/ })).toHaveTextContent('from project');
    const project = screen.getByRole('region', { name: 'Project credentials' });
    expect(within(project).getByRole('row', { name: /OLD_TOKEN/ })).toHaveTextContent('cannot be read — set it again');
  });

  it('shows an empty effective set', async () => {
    fakeServer().on('GET /api/credentials/names', NAMES).on(`GET ${BASE}`, []).on(`GET ${BASE}/effective`, []);
    renderPage(<CredentialsPanel projectId={PROJECT_ID} />);
    expect(await screen.findByText(/Runs get no credentials from Taskyard yet/)).toBeInTheDocument();
    expect(screen.getByText('No values stored here yet.')).toBeInTheDocument();
  });

  it('sets a project value and reloads the effective set', async () => {
    let effective: Effective[] = [];
    const fake = fakeServer()
      .on('GET /api/credentials/names', NAMES)
      .on(`GET ${BASE}`, () => (effective.length ? [view('CLAUDE_CODE_OAUTH_TOKEN')] : []))
      .on(`GET ${BASE}/effective`, () => effective);
    fake.on(`PUT ${BASE}/CLAUDE_CODE_OAUTH_TOKEN`, () => {
      effective = [{ key: 'CLAUDE_CODE_OAUTH_TOKEN', masked: 'proj…1234', tier: 'project', locked: false }];
      return view('CLAUDE_CODE_OAUTH_TOKEN');
    });
    const user = userEvent.setup();
    renderPage(<CredentialsPanel projectId={PROJECT_ID} />);
    await user.selectOptions(await screen.findByLabelText('Name'), 'CLAUDE_CODE_OAUTH_TOKEN');
    await user.type(screen.getByLabelText('Value'), 'sk-ant-oat01-secret');
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    const table = await screen.findByRole('table', { name: 'Effective credentials' });
    expect(within(table).getByRole('row', { name: /CLAUDE_CODE_OAUTH_TOKEN/ })).toHaveTextContent('from project');
    expect(fake.requests.find((request) => request.method === 'PUT')?.body).toEqual({ value: 'sk-ant-oat01-secret' });
    expect(document.body.innerHTML).not.toContain('sk-ant-oat01-secret');
  });

  it('explains a value locked globally', async () => {
    fakeServer()
      .on('GET /api/credentials/names', NAMES)
      .on(`GET ${BASE}`, [])
      .on(`GET ${BASE}/effective`, EFFECTIVE)
      .on(`PUT ${BASE}/GITHUB_TOKEN`, () => json(409, { error: 'conflict', message: 'GITHUB_TOKEN is locked globally' }));
    const user = userEvent.setup();
    renderPage(<CredentialsPanel projectId={PROJECT_ID} />);
    await user.selectOptions(await screen.findByLabelText('Name'), 'GITHUB_TOKEN');
    await user.type(screen.getByLabelText('Value'), 'ghp_project');
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('GITHUB_TOKEN is locked globally: an admin set it for everyone');
  });

  it("shows an unknown name (422 key) at the name field and a member's 403 at the form", async () => {
    const fake = fakeServer()
      .on('GET /api/credentials/names', NAMES)
      .on(`GET ${BASE}`, [])
      .on(`GET ${BASE}/effective`, [])
      .on(`PUT ${BASE}/GITHUB_TOKEN`, () => json(422, { error: 'invalid', message: 'GITHUB_TOKEN is not allowed here', field: 'key' }));
    const user = userEvent.setup();
    renderPage(<CredentialsPanel projectId={PROJECT_ID} />);
    await user.selectOptions(await screen.findByLabelText('Name'), 'GITHUB_TOKEN');
    await user.type(screen.getByLabelText('Value'), 'x');
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    expect(await screen.findByText('GITHUB_TOKEN is not allowed here')).toBeInTheDocument();
    expect(screen.getByLabelText('Name')).toHaveAttribute('aria-invalid', 'true');

    fake.on(`PUT ${BASE}/GITHUB_TOKEN`, () => json(403, { error: 'forbidden', message: 'Only owners may' }));
    await user.click(screen.getByRole('button', { name: 'Set value' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('You may not change this tier. (Only owners may)');
  });
});

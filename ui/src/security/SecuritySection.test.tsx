import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { renderPage } from '../test/render.tsx';
import { SecuritySection } from './SecuritySection.tsx';

const DEFAULTS = {
  allowed_hosts: [],
  allowed_cidrs: [],
  project_root: null,
  member_agents: ['claude', 'codex', 'gemini'],
  max_git_operations: 8,
  max_git_operations_per_user: 2,
  connect_timeout_seconds: 10,
  stall_seconds: 30,
  deadline_seconds: 1800,
};

describe('SecuritySection', () => {
  it('saves hosts one a line and the agents members may use', async () => {
    const saved = {
      ...DEFAULTS,
      allowed_hosts: ['git.corp.example', '10.1.2.3'],
      member_agents: ['claude', 'gemini', 'custom'],
    };
    const server = fakeServer().on('GET /api/settings/security', DEFAULTS).on('PUT /api/settings/security', saved);
    const user = userEvent.setup();
    renderPage(<SecuritySection />);
    const hosts = await screen.findByLabelText('Allowed hosts');
    await user.type(hosts, 'git.corp.example{Enter}{Enter}10.1.2.3');
    expect(screen.getByLabelText('Members may use custom (any command on the server)')).not.toBeChecked();
    await user.click(screen.getByLabelText('Members may use custom (any command on the server)'));
    await user.click(screen.getByLabelText('Members may use codex'));
    await user.click(screen.getByRole('button', { name: 'Save security settings' }));
    await screen.findByText('Security settings saved.');
    expect(server.requests.find((r) => r.method === 'PUT')?.body).toEqual(saved);
    expect(screen.getByLabelText('Allowed hosts')).toHaveValue('git.corp.example\n10.1.2.3');
  });

  it("shows the server's refusal", async () => {
    fakeServer()
      .on('GET /api/settings/security', DEFAULTS)
      .on('PUT /api/settings/security', () =>
        json(422, { error: 'invalid', message: '`10.0.0.0/33` is not an address range', field: 'allowed_cidrs' }),
      );
    const user = userEvent.setup();
    renderPage(<SecuritySection />);
    await user.type(await screen.findByLabelText('Allowed networks'), '10.0.0.0/33');
    await user.click(screen.getByRole('button', { name: 'Save security settings' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Not saved:');
    expect(screen.getByRole('alert')).toHaveTextContent('10.0.0.0/33');
  });
});

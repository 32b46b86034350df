import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { fakeServer, json } from '../test/fakes.ts';
import { project } from '../test/fixtures.ts';
import { renderPage } from '../test/render.tsx';
import { ProjectsPage } from './ProjectsPage.tsx';

beforeEach(() => {
  window.location.hash = '';
});

const zero = { received_objects: 0, total_objects: 0, indexed_deltas: 0, total_deltas: 0, received_bytes: 0 };

describe('ProjectsPage', () => {
  it("shows the server's reason a path was refused, at the field", async () => {
    fakeServer()
      .on('GET /api/projects', [])
      .on('POST /api/projects', () => json(422, { error: 'invalid', message: '/tmp/nope is not a git repository', field: 'path' }));
    const user = userEvent.setup();
    renderPage(<ProjectsPage />);
    await user.type(screen.getByLabelText('Repository path'), '/tmp/nope');
    await user.click(screen.getByRole('button', { name: 'Add project' }));
    expect(await screen.findByText('/tmp/nope is not a git repository')).toBeInTheDocument();
    expect(screen.getByLabelText('Repository path')).toHaveAttribute('aria-invalid', 'true');
  });

  it('opens the board of a project it added', async () => {
    fakeServer().on('GET /api/projects', []).on('POST /api/projects', () => json(201, project()));
    const user = userEvent.setup();
    renderPage(<ProjectsPage />);
    await user.type(screen.getByLabelText('Repository path'), '/srv/demo');
    await user.click(screen.getByRole('button', { name: 'Add project' }));
    await screen.findByRole('link', { name: 'demo' });
    expect(window.location.hash).toBe(`#/projects/${project().id}`);
  });

  it('shows clone progress from the board socket', async () => {
    fakeServer()
      .on('GET /api/projects', [])
      .on('POST /api/projects/clone', () => json(202, { clone_id: 'c1', state: 'running', progress: zero }))
      .on('GET /api/clones/c1', { clone_id: 'c1', state: 'running', progress: zero });
    const user = userEvent.setup();
    const { hub } = renderPage(<ProjectsPage />);
    await user.type(screen.getByLabelText('URL'), 'https://example.com/demo.git');
    await user.click(screen.getByRole('button', { name: 'Clone' }));
    expect(await screen.findByText('Connecting…')).toBeInTheDocument();
    act(() => {
      hub.emit({ type: 'clone_progress', clone_id: 'c1', progress: { ...zero, received_objects: 3, total_objects: 12, received_bytes: 4096 } });
    });
    expect(screen.getByRole('progressbar', { name: 'Cloning https://example.com/demo.git' })).toHaveAttribute('value', '0.25');
    expect(screen.getByText('Receiving objects: 3 of 12 (4.0 KiB)')).toBeInTheDocument();
    act(() => {
      hub.emit({ type: 'clone_finished', clone_id: 'c1', project: project() });
      hub.emit({ type: 'project_updated', project: project() });
    });
    expect(screen.getByRole('link', { name: 'Open the board of demo' })).toBeInTheDocument();
  });

  it('deletes a project after asking', async () => {
    const server = fakeServer()
      .on('GET /api/projects', [project()])
      .on(`DELETE /api/projects/${project().id}`, () => new Response(null, { status: 204 }));
    const user = userEvent.setup();
    renderPage(<ProjectsPage />);
    await user.click(await screen.findByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete demo?' });
    await user.click(within(dialog).getByRole('button', { name: 'Delete project' }));
    expect(server.requests.some((r) => r.method === 'DELETE')).toBe(true);
    expect(screen.queryByRole('link', { name: 'demo' })).not.toBeInTheDocument();
  });
});

import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, fakeServer, json } from '../test/fakes.ts';
import { PROJECT_ID, project, run, task } from '../test/fixtures.ts';
import { renderPage } from '../test/render.tsx';
import { TaskPage } from './TaskPage.tsx';

const TASK = task('t1', { title: 'Say hi', description: 'Write hi to out.txt', status: 'in_review' });
const DONE = run('r1', 't1', {
  prompt: 'Write hi to out.txt',
  status: 'succeeded',
  branch: 'taskyard/say-hi',
  base_branch: 'main',
  started_at: '2026-01-01T00:00:00Z',
  finished_at: '2026-01-01T00:00:05Z',
  files_changed: 1,
  insertions: 1,
  deletions: 0,
});

beforeEach(() => {
  // Log sockets go nowhere in these tests.
  vi.stubGlobal('WebSocket', FakeSocket);
});

function serve(runs = [DONE]) {
  return fakeServer()
    .on('GET /api/tasks/t1', TASK)
    .on('GET /api/tasks/t1/runs', runs)
    .on(`GET /api/projects/${PROJECT_ID}`, project())
    .on('GET /api/runs/r1/diff', {
      base_commit: 'a',
      head_commit: 'b',
      insertions: 1,
      deletions: 0,
      files: [{ path: 'out.txt', status: 'added', insertions: 1, deletions: 0, binary: false, truncated: false, patch: '@@ -0,0 +1 @@\n+hi\n' }],
    });
}

describe('TaskPage', () => {
  it('shows the task and its runs as a conversation', async () => {
    serve([DONE, run('r2', 't1', { attempt: 2, kind: 'follow_up', prompt: 'Also say bye', status: 'failed', error: 'exit code 1' })]);
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    expect(await screen.findByRole('heading', { name: 'Say hi' })).toBeInTheDocument();
    const history = screen.getByRole('list', { name: 'Run history' });
    expect(within(history).getByText('Write hi to out.txt')).toBeInTheDocument();
    expect(within(history).getByText('Also say bye')).toBeInTheDocument();
    // The latest run is open.
    expect(screen.getByRole('region', { name: 'Run 2' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Start a new run' })).toBeInTheDocument();
  });

  it('starts, follows and stops a run', async () => {
    const running = run('r2', 't1', { attempt: 2, status: 'running' });
    const server = serve()
      .on('POST /api/tasks/t1/runs', () => json(201, running))
      .on('POST /api/runs/r2/stop', () => json(202, { ...running, status: 'running' }));
    const user = userEvent.setup();
    const { hub } = renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('button', { name: 'Start a new run' }));
    expect(await screen.findByRole('region', { name: 'Run 2' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Stop' }));
    expect(server.requests.some((r) => r.method === 'POST' && r.path === '/api/runs/r2/stop')).toBe(true);
    act(() => {
      hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: { ...running, status: 'cancelled' } });
    });
    expect(within(screen.getByRole('region', { name: 'Run 2' })).getAllByText('cancelled')[0]).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Start a new run' })).toBeInTheDocument();
  });

  it('shows the changes and what a merge did', async () => {
    serve().on('POST /api/runs/r1/merge', () =>
      json(200, { branch: 'taskyard/say-hi', into: 'main', outcome: { kind: 'fast_forward', commit: 'abcdef0123456789' } }),
    );
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('tab', { name: 'Changes (1)' }));
    expect(await screen.findByRole('link', { name: /out\.txt/ })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Merge into main' }));
    expect((await screen.findAllByText('Merged taskyard/say-hi into main (fast-forward to abcdef0123).')).length).toBeGreaterThan(0);
  });

  it("shows the server's reason when a merge is refused", async () => {
    serve().on('POST /api/runs/r1/merge', () =>
      json(409, { error: 'conflict', message: 'merging taskyard/say-hi into main conflicts in out.txt' }),
    );
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('button', { name: 'Merge into main' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Merge refused: merging taskyard/say-hi into main conflicts in out.txt');
  });

  it('sends a follow-up', async () => {
    const server = serve().on('POST /api/tasks/t1/follow-ups', () =>
      json(201, run('r3', 't1', { attempt: 2, kind: 'follow_up', prompt: 'Now say bye', status: 'queued' })),
    );
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.type(await screen.findByLabelText('Follow-up'), 'Now say bye');
    await user.click(screen.getByRole('button', { name: 'Send follow-up' }));
    expect(server.requests.find((r) => r.path === '/api/tasks/t1/follow-ups')?.body).toEqual({ message: 'Now say bye' });
    expect(await screen.findByRole('region', { name: 'Run 2' })).toBeInTheDocument();
    expect(screen.getByLabelText('Follow-up')).toHaveValue('');
  });
});

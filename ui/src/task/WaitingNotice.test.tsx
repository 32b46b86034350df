import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, fakeServer, json } from '../test/fakes.ts';
import { PROJECT_ID, project, run, task } from '../test/fixtures.ts';
import { renderPage } from '../test/render.tsx';
import { TaskPage } from './TaskPage.tsx';

const TASK = task('t1', { title: 'Say hi', status: 'waiting' });
const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

const QUEUE = {
  counts: { queued: 0, running: 0, waiting_auth: 1, waiting_quota: 0 },
  active_here: 0,
  max_concurrent_here: 4,
  worktrees: { count: 3, bytes: 12_345_678 },
  settings: {
    max_concurrent: 0,
    max_per_user: 0,
    max_per_project: 0,
    max_attempts: 20,
    auth_retry_seconds: 300,
    quota_retry_seconds: 3600,
    quota_backoff: 1.5,
    quota_max_seconds: 14400,
    worktree_idle_hours: 168,
  },
};

beforeEach(() => {
  vi.stubGlobal('WebSocket', FakeSocket);
});

function serve(latest: ReturnType<typeof run>) {
  return fakeServer()
    .on('GET /api/tasks/t1', TASK)
    .on('GET /api/tasks/t1/runs', [latest])
    .on(`GET /api/projects/${PROJECT_ID}`, project())
    .on('GET /api/queue', QUEUE);
}

describe('a run waiting to be retried', () => {
  const waiting = run('r1', 't1', {
    status: 'waiting_auth',
    tries: 2,
    error: 'Not logged in · Please run /login',
    retry_at: inMinutes(5),
    branch: 'taskyard/say-hi',
  });

  it('says what it waits for, why, which attempt and when it is tried again', async () => {
    serve(waiting);
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    const notice = await screen.findByRole('region', { name: 'Waiting for credentials' });
    expect(within(notice).getByText('Not logged in · Please run /login')).toBeInTheDocument();
    expect(await within(notice).findByText(/attempt 2 of 20/)).toBeInTheDocument();
    expect(within(notice).getByText(/in 5 min/)).toBeInTheDocument();
    expect(within(notice).getByRole('link', { name: 'Credentials page' })).toHaveAttribute('href', '#/settings/credentials');
    // Live, not ended: the task can be stopped, not merged or followed up.
    expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Merge into main' })).toBeDisabled();
    expect(within(screen.getByRole('list', { name: 'Run history' })).getByText('waiting for credentials')).toBeInTheDocument();
  });

  it('shows the attempt without its limit when the queue cannot be read', async () => {
    serve(run('r1', 't1', { status: 'waiting_quota', tries: 3, retry_at: inMinutes(90), error: 'usage limit reached' })).on(
      'GET /api/queue',
      () => json(500, { error: 'internal', message: 'boom' }),
    );
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    const notice = await screen.findByRole('region', { name: 'Waiting for usage limit' });
    expect(within(notice).getByText(/attempt 3$/)).toBeInTheDocument();
    expect(within(notice).getByText(/in 1 h 30 min/)).toBeInTheDocument();
    expect(within(notice).queryByRole('link', { name: 'Credentials page' })).toBeNull();
  });

  it('retries now', async () => {
    const server = serve(waiting).on('POST /api/runs/r1/retry', () =>
      json(202, { ...waiting, status: 'queued', retry_at: null, queue_position: 1 }),
    );
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('button', { name: 'Retry now' }));
    expect(server.requests.some((r) => r.method === 'POST' && r.path === '/api/runs/r1/retry')).toBe(true);
    expect(await screen.findByText('#1 in queue', { selector: 'strong' })).toBeInTheDocument();
    expect(screen.queryByRole('region', { name: 'Waiting for credentials' })).toBeNull();
  });

  it("shows the server's reason when a retry is refused", async () => {
    serve(waiting).on('POST /api/runs/r1/retry', () => json(409, { error: 'conflict', message: 'run r1 is running, not waiting' }));
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('button', { name: 'Retry now' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not retry: run r1 is running, not waiting');
    expect(screen.getByRole('button', { name: 'Retry now' })).toBeEnabled();
  });

  it('stops a waiting run', async () => {
    const server = serve(waiting).on('POST /api/runs/r1/stop', () => json(202, { ...waiting, status: 'cancelled', error: 'stopped on request' }));
    const user = userEvent.setup();
    renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    await user.click(await screen.findByRole('button', { name: 'Stop' }));
    expect(server.requests.some((r) => r.method === 'POST' && r.path === '/api/runs/r1/stop')).toBe(true);
    expect(await screen.findByRole('button', { name: 'Start a new run' })).toBeInTheDocument();
    expect(screen.queryByRole('region', { name: 'Waiting for credentials' })).toBeNull();
  });

  it('follows the board socket from waiting to running', async () => {
    serve(waiting);
    const { hub } = renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
    expect(await screen.findByRole('region', { name: 'Waiting for credentials' })).toBeInTheDocument();
    act(() => {
      hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: { ...waiting, status: 'running', tries: 3, retry_at: null } });
    });
    expect(screen.queryByRole('region', { name: 'Waiting for credentials' })).toBeNull();
    // A stale answer from before this try does not bring the wait back.
    act(() => {
      hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: waiting });
    });
    expect(screen.queryByRole('region', { name: 'Waiting for credentials' })).toBeNull();
    expect(within(screen.getByRole('region', { name: 'Run 1' })).getAllByText('running')[0]).toBeInTheDocument();
  });
});

describe('a queued run', () => {
  it('shows its place in the queue and reads it again', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      let position = 3;
      serve(run('r1', 't1', { status: 'queued', queue_position: 3 })).on('GET /api/runs/r1', () =>
        run('r1', 't1', { status: 'queued', queue_position: position }),
      );
      renderPage(<TaskPage projectId={PROJECT_ID} taskId="t1" />);
      expect(await screen.findByText('#3 in queue', { selector: 'strong' })).toBeInTheDocument();
      position = 1;
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5000);
      });
      expect(await screen.findByText('#1 in queue', { selector: 'strong' })).toBeInTheDocument();
      expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled();
    } finally {
      vi.useRealTimers();
    }
  });
});

import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { UpdateTask } from '../api/types.ts';
import { fakeServer, json } from '../test/fakes.ts';
import { board } from '../test/boardFixture.ts';
import { PROJECT_ID, run, task } from '../test/fixtures.ts';
import { renderPage } from '../test/render.tsx';
import { BoardPage } from './BoardPage.tsx';

const columnNames = ['Backlog', 'Queued', 'In progress', 'In review', 'Done', 'Waiting', 'Failed', 'Cancelled'];

function serve(tasks = [task('a', { position: 1 }), task('b', { position: 2 }), task('c', { position: 4 })]) {
  return fakeServer()
    .on(`GET /api/projects/${PROJECT_ID}/board`, board(tasks))
    .on('GET /api/tasks/r/runs', [run('run1', 'r', { status: 'running' })])
    .on('PATCH /api/tasks/a', async (request: Request) => {
      const body = (await request.json()) as UpdateTask;
      return json(200, task('a', { status: body.status ?? 'backlog', position: body.position ?? 1, updated_at: '2026-01-02T00:00:00Z' }));
    });
}

function column(name: string) {
  return screen.getByRole('region', { name });
}

function cardTitles(name: string) {
  return within(column(name))
    .queryAllByRole('button')
    .filter((el) => el.dataset['cardId'])
    .map((el) => el.querySelector('.card-title')?.textContent);
}

describe('BoardPage', () => {
  it('shows every column, main and side, with cards and counts', async () => {
    serve([task('a'), task('r', { status: 'in_review', title: 'Review me' })]);
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    expect(await screen.findByText('Task a')).toBeInTheDocument();
    expect(screen.getAllByRole('region').map((r) => within(r).getByRole('heading').textContent)).toEqual(columnNames);
    expect(within(column('Backlog')).getByLabelText('1 tasks')).toBeInTheDocument();
    expect(within(column('Done')).getByText('No finished tasks yet.')).toBeInTheDocument();
    // The latest run shows on its card once fetched.
    expect(await within(column('In review')).findByText('Run running')).toBeInTheDocument();
  });

  it('moves a card with the keyboard to the midpoint of its new neighbours', async () => {
    const server = serve();
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    const card = (await screen.findByText('Task a')).closest<HTMLElement>('[data-card-id]');
    if (!card) throw new Error('no card');
    card.focus();
    await user.keyboard(' ');
    expect(card).toHaveAttribute('aria-pressed', 'true');
    await user.keyboard('{ArrowDown}');
    expect(screen.getByText('Backlog, position 2 of 3')).toBeInTheDocument();
    await user.keyboard(' ');
    // Between b (2) and c (4).
    const patch = server.requests.find((r) => r.method === 'PATCH');
    expect(patch?.body).toEqual({ status: 'backlog', position: 3 });
    expect(cardTitles('Backlog')).toEqual(['Task b', 'Task a', 'Task c']);
  });

  it('moves a card to another column with the arrow keys', async () => {
    const server = serve();
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    const card = (await screen.findByText('Task a')).closest<HTMLElement>('[data-card-id]');
    card?.focus();
    await user.keyboard(' {ArrowRight} ');
    expect(server.requests.find((r) => r.method === 'PATCH')?.body).toEqual({ status: 'queued', position: 1 });
    expect(cardTitles('Queued')).toEqual(['Task a']);
    expect(within(column('Backlog')).getByLabelText('2 tasks')).toBeInTheDocument();
  });

  it('puts a card back when the server refuses the move', async () => {
    serve().on('PATCH /api/tasks/a', () => json(422, { error: 'invalid', message: 'position must be a finite number', field: 'position' }));
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    (await screen.findByText('Task a')).closest<HTMLElement>('[data-card-id]')?.focus();
    await user.keyboard(' {ArrowRight} ');
    expect(await screen.findByText(/Could not move “Task a” to Queued: position must be a finite number/)).toBeInTheDocument();
    expect(cardTitles('Backlog')).toEqual(['Task a', 'Task b', 'Task c']);
  });

  it('cancels a keyboard move with Escape', async () => {
    const server = serve();
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    (await screen.findByText('Task a')).closest<HTMLElement>('[data-card-id]')?.focus();
    await user.keyboard(' {ArrowRight}{Escape}');
    expect(server.requests.some((r) => r.method === 'PATCH')).toBe(false);
    expect(cardTitles('Backlog')).toEqual(['Task a', 'Task b', 'Task c']);
  });

  it("reads queued runs' places again while they wait", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      fakeServer()
        .on(`GET /api/projects/${PROJECT_ID}/board`, board([task('q', { status: 'queued', title: 'Waits' })]))
        .on('GET /api/tasks/q/runs', [run('rq', 'q', { status: 'queued', queue_position: 3 })])
        .on('GET /api/runs/rq', run('rq', 'q', { status: 'queued', queue_position: 1 }));
      const { hub } = renderPage(<BoardPage projectId={PROJECT_ID} />);
      await screen.findByText('Waits');
      expect(await within(column('Queued')).findByText('#3 in queue')).toBeInTheDocument();
      // An event without the place keeps the one shown; the next read moves it.
      act(() => {
        hub.emit({ type: 'run_updated', project_id: PROJECT_ID, run: run('rq', 'q', { status: 'queued', queue_position: null }) });
      });
      expect(within(column('Queued')).getByText('#3 in queue')).toBeInTheDocument();
      await act(async () => {
        await vi.advanceTimersByTimeAsync(5_000);
      });
      expect(await within(column('Queued')).findByText('#1 in queue')).toBeInTheDocument();
    } finally {
      vi.useRealTimers();
    }
  });

  it('follows live events from other tabs', async () => {
    serve();
    const { hub } = renderPage(<BoardPage projectId={PROJECT_ID} />);
    await screen.findByText('Task a');
    act(() => {
      hub.emit({ type: 'task_updated', task: task('n', { title: 'From another tab', position: 3 }) });
    });
    expect(cardTitles('Backlog')).toEqual(['Task a', 'Task b', 'From another tab', 'Task c']);
    act(() => {
      hub.emit({ type: 'task_deleted', project_id: PROJECT_ID, task_id: 'b' });
    });
    expect(cardTitles('Backlog')).toEqual(['Task a', 'From another tab', 'Task c']);
  });

  it('creates a task with n, showing the field the server rejects', async () => {
    const server = serve().on(`POST /api/projects/${PROJECT_ID}/tasks`, () =>
      json(422, { error: 'invalid', message: 'the command must not be empty', field: 'agent_config' }),
    );
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    await screen.findByText('Task a');
    await user.keyboard('n');
    const dialog = screen.getByRole('dialog', { name: 'New task' });
    await user.click(within(dialog).getByRole('button', { name: 'Create task' }));
    expect(within(dialog).getByText('A task needs a title.')).toBeInTheDocument();
    await user.type(within(dialog).getByLabelText('Title'), 'Write docs');
    await user.type(within(dialog).getByLabelText('Agent command'), 'echo hi');
    await user.click(within(dialog).getByRole('button', { name: 'Create task' }));
    expect(await within(dialog).findByText('the command must not be empty')).toBeInTheDocument();
    expect(within(dialog).getByLabelText('Agent command')).toHaveAttribute('aria-invalid', 'true');
    expect(server.requests.find((r) => r.method === 'POST')?.body).toEqual({
      title: 'Write docs',
      description: '',
      agent: 'command',
      agent_config: { command: 'echo hi' },
    });
  });

  it('filters with / and shows help with ?', async () => {
    serve();
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    await screen.findByText('Task a');
    await user.keyboard('/');
    expect(screen.getByLabelText('Filter cards')).toHaveFocus();
    await user.keyboard('task b');
    expect(cardTitles('Backlog')).toEqual(['Task b']);
    await user.keyboard('{Escape}');
    expect(cardTitles('Backlog')).toHaveLength(3);
    await user.keyboard('?');
    expect(screen.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeInTheDocument();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('loads more cards of a long column', async () => {
    const server = serve([task('a', { position: 1 })]);
    server
      .on(`GET /api/projects/${PROJECT_ID}/board`, board([task('a', { position: 1 })], { backlog: { total: 2, more: true } }))
      .on(`GET /api/projects/${PROJECT_ID}/tasks`, [task('z', { position: 7, title: 'Later card' })]);
    const user = userEvent.setup();
    renderPage(<BoardPage projectId={PROJECT_ID} />);
    await user.click(await screen.findByRole('button', { name: 'Show 1 more' }));
    expect(await screen.findByText('Later card')).toBeInTheDocument();
    expect(server.requests.find((r) => r.path.startsWith(`/api/projects/${PROJECT_ID}/tasks`))?.path).toBe(
      `/api/projects/${PROJECT_ID}/tasks?status=backlog&after_position=1&after_id=a&limit=50`,
    );
  });
});

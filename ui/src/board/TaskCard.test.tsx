import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { run, task } from '../test/fixtures.ts';
import { TaskCard } from './TaskCard.tsx';

const handlers = { onOpen: vi.fn(), onPointerDown: vi.fn(), onKeyDown: vi.fn() };

describe('TaskCard', () => {
  it('shows a waiting run: what for, the attempt, when it is tried again and why', () => {
    const retryAt = new Date(Date.now() + 5 * 60_000).toISOString();
    render(
      <TaskCard
        task={task('t1', { status: 'waiting' })}
        run={run('r1', 't1', { status: 'waiting_auth', tries: 2, retry_at: retryAt, error: 'Not logged in · Please run /login' })}
        handlers={handlers}
        dragging={false}
        grabbed={false}
      />,
    );
    expect(screen.getByText('waiting for credentials')).toBeInTheDocument();
    expect(screen.getByText(/attempt 2/)).toBeInTheDocument();
    expect(screen.getByText('retry in 5 min')).toHaveAttribute('datetime', retryAt);
    expect(screen.getByText('Not logged in · Please run /login')).toBeInTheDocument();
  });

  it('shows a queued run’s place when it is known', () => {
    render(
      <TaskCard
        task={task('t1', { status: 'queued' })}
        run={run('r1', 't1', { status: 'queued', queue_position: 3 })}
        handlers={handlers}
        dragging={false}
        grabbed={false}
      />,
    );
    expect(screen.getByText('Run queued')).toBeInTheDocument();
    expect(screen.getByText('#3 in queue')).toBeInTheDocument();
  });
});

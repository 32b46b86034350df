/**
 * A card: the task's title, its phase while in progress, and its latest run (state, changes,
 * the reason it failed or waits, when a waiting run is tried again, a queued run's place). Dragging and keys are handled by the board, which owns the order.
 */
import { memo, type KeyboardEvent, type PointerEvent } from 'react';
import { isRunWaiting, type Run, type Task } from '../api/types.ts';
import { queuePositionText } from '../task/waiting.ts';
import { RetryCountdown } from '../task/WaitingNotice.tsx';
import { PhaseChip, RunChip } from '../widgets/Chip.tsx';

export interface CardHandlers {
  onOpen: (task: Task) => void;
  onPointerDown: (event: PointerEvent<HTMLElement>, task: Task) => void;
  onKeyDown: (event: KeyboardEvent<HTMLElement>, task: Task) => void;
}

export const TaskCard = memo(function TaskCard({
  task,
  run,
  handlers,
  dragging,
  grabbed,
}: {
  task: Task;
  run: Run | undefined;
  handlers: CardHandlers;
  /** Being dragged with the pointer: the card stays as a faint placeholder. */
  dragging: boolean;
  /** Picked up with the keyboard. */
  grabbed: boolean;
}) {
  const changed = (run?.insertions ?? 0) > 0 || (run?.deletions ?? 0) > 0;
  return (
    <div
      className={`card${dragging ? ' card-dragging' : ''}${grabbed ? ' card-grabbed' : ''}`}
      role="button"
      tabIndex={0}
      aria-describedby="board-keys-help"
      aria-pressed={grabbed ? true : undefined}
      data-card-id={task.id}
      onClick={() => {
        handlers.onOpen(task);
      }}
      onPointerDown={(event) => {
        handlers.onPointerDown(event, task);
      }}
      onKeyDown={(event) => {
        handlers.onKeyDown(event, task);
      }}
    >
      <span className="card-title">{task.title}</span>
      {(task.phase != null || run !== undefined) && (
        <span className="card-meta">
          {task.phase && task.status === 'in_progress' && <PhaseChip phase={task.phase} />}
          {run && (
            <RunChip
              status={run.status}
              // Waiting states say enough on their own; a card is narrow.
              {...(isRunWaiting(run) ? {} : { label: run.attempt > 1 ? `Run ${run.attempt}` : 'Run' })}
            />
          )}
          {changed && (
            <span className="card-changes" aria-label={`${run?.insertions ?? 0} lines added, ${run?.deletions ?? 0} removed`}>
              <span className="diff-plus">+{run?.insertions ?? 0}</span>{' '}
              <span className="diff-minus">−{run?.deletions ?? 0}</span>
            </span>
          )}
        </span>
      )}
      {run && isRunWaiting(run) ? (
        <span className="card-waiting">
          <span>
            attempt {run.tries}
            {run.retry_at && ' · '}
            <RetryCountdown run={run} />
          </span>
          {run.error && <span className="card-error">{run.error}</span>}
        </span>
      ) : (
        run?.error && run.status !== 'succeeded' && <span className="card-error">{run.error}</span>
      )}
      {run && queuePositionText(run) && <span className="card-queued">{queuePositionText(run)}</span>}
    </div>
  );
});

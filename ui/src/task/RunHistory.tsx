/**
 * The task's runs as one conversation: the task's description opens it, each follow-up adds
 * the person's message, and every run shows how it went. Selecting a run shows its log and
 * changes.
 */
import { isRunWaiting, type Run } from '../api/types.ts';
import { RunChip } from '../widgets/Chip.tsx';
import { elapsed, relativeTime } from '../widgets/time.ts';
import { queuePositionText } from './waiting.ts';
import { RetryCountdown } from './WaitingNotice.tsx';

export function RunHistory({
  runs,
  selectedId,
  onSelect,
}: {
  runs: readonly Run[];
  selectedId: string | null;
  onSelect: (run: Run) => void;
}) {
  if (runs.length === 0) {
    return <p className="empty-state">No runs yet. Start the task to hand it to its agent.</p>;
  }
  return (
    <ol className="history" aria-label="Run history">
      {runs.map((run) => (
        <li key={run.id} className="history-turn">
          <div className="history-prompt">
            <span className="history-who">{run.kind === 'follow_up' ? 'Follow-up' : 'Task'}</span>
            <p className="history-text">{run.prompt || <span className="muted">(no description)</span>}</p>
          </div>
          <button
            type="button"
            className={`history-run${run.id === selectedId ? ' history-run-selected' : ''}`}
            aria-current={run.id === selectedId ? 'true' : undefined}
            onClick={() => {
              onSelect(run);
            }}
          >
            <span className="history-run-head">
              <span>Run {run.attempt}</span>
              <RunChip status={run.status} />
            </span>
            <span className="history-run-facts muted">
              {isRunWaiting(run) ? (
                <>
                  attempt {run.tries}
                  {run.retry_at && ' · '}
                  <RetryCountdown run={run} />
                </>
              ) : run.status === 'queued' ? (
                (queuePositionText(run) ?? 'waiting to start')
              ) : run.started_at ? (
                `${relativeTime(run.started_at)} · ${elapsed(run.started_at, run.finished_at)}`
              ) : (
                'waiting to start'
              )}
              {run.files_changed != null && ` · ${run.files_changed} ${run.files_changed === 1 ? 'file' : 'files'}`}
              {run.insertions != null && (
                <>
                  {' · '}
                  <span className="diff-plus">+{run.insertions}</span> <span className="diff-minus">−{run.deletions ?? 0}</span>
                </>
              )}
            </span>
            {run.error && run.status !== 'succeeded' && (
              <span className={isRunWaiting(run) ? 'history-error history-waiting' : 'history-error'}>{run.error}</span>
            )}
          </button>
        </li>
      ))}
    </ol>
  );
}

/**
 * A run that has not ended but is not running either: queued (its place in the queue) or
 * waiting to be retried (what for, why, which attempt, when the next try is; "Retry now").
 * Stopping it stays with the task's Stop button.
 */
import { useEffect, useState } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { Run } from '../api/types.ts';
import { href } from '../router.ts';
import { useNow } from '../widgets/time.ts';
import { QUEUE_POLL_MS, attemptText, nextRetry, queuePositionText, waitingTitle } from './waiting.ts';

/** "in 4 min", kept current; its title is the time on the local clock. */
export function RetryCountdown({ run, prefix = 'retry ' }: { run: Pick<Run, 'status' | 'retry_at'>; prefix?: string }) {
  const now = useNow(1000, Boolean(run.retry_at));
  const next = nextRetry(run, now);
  if (!next || !run.retry_at) return null;
  return (
    <time dateTime={run.retry_at} title={`at ${next.absolute}`}>
      {prefix}
      {next.relative}
    </time>
  );
}

export function WaitingNotice({ run, onRun }: { run: Run; onRun: (run: Run) => void }) {
  const title = waitingTitle(run);
  const now = useNow(1000, Boolean(run.retry_at));
  const maxAttempts = useMaxAttempts();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!title) return null;
  const next = nextRetry(run, now);
  const auth = run.status === 'waiting_auth';

  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      onRun(await api.retryRun(run.id));
    } catch (failure) {
      setError(`Could not retry: ${describeError(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="waiting" data-run={run.status} aria-label={title}>
      <div className="waiting-body">
        <p className="waiting-title">
          <strong>{title}</strong> <span className="muted">· {attemptText(run, maxAttempts)}</span>
        </p>
        {run.error && <p className="waiting-reason">{run.error}</p>}
        <p className="waiting-next">
          {next && run.retry_at ? (
            <>
              Next try <strong>{next.relative}</strong>{' '}
              <span className="muted">
                (at <time dateTime={run.retry_at}>{next.absolute}</time>)
              </span>
              {auth ? ', or as soon as a credential changes.' : '.'}
            </>
          ) : auth ? (
            'Tried again as soon as a credential changes.'
          ) : (
            'Tried again when the usage limit resets.'
          )}
        </p>
        {auth && (
          <p className="waiting-hint">
            Set the agent&apos;s credential (for Claude Code, <span className="mono">CLAUDE_CODE_OAUTH_TOKEN</span> from{' '}
            <span className="mono">claude setup-token</span>) on the <a href={href({ name: 'credentials' })}>Credentials page</a> or in
            the project&apos;s Credentials panel.
          </p>
        )}
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
      </div>
      <button type="button" className="button" disabled={busy} onClick={() => void retry()}>
        {busy ? 'Retrying…' : 'Retry now'}
      </button>
    </section>
  );
}

/** A queued run's place, read again every few seconds while it waits for a worker. */
export function QueuedNotice({ run, onRun }: { run: Run; onRun: (run: Run) => void }) {
  const [polled, setPolled] = useState<{ id: string; position: number | null } | null>(null);
  const queued = run.status === 'queued';

  useEffect(() => {
    if (!queued) return;
    let live = true;
    const timer = setInterval(() => {
      api.getRun(run.id).then(
        (fresh) => {
          if (!live) return;
          setPolled({ id: fresh.id, position: fresh.queue_position ?? null });
          onRun(fresh);
        },
        () => {
          // A missed read is retried at the next tick; the board socket still brings changes.
        },
      );
    }, QUEUE_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [queued, run.id, onRun]);

  if (!queued) return null;
  const position = polled?.id === run.id && polled.position != null ? polled.position : run.queue_position;
  const text = queuePositionText({ status: run.status, queue_position: position ?? null });
  return (
    <p className="queued-note" role="status">
      {text ? (
        <>
          <strong>{text}</strong>
          {position === 1 ? ' — next to start when a worker is free.' : ' — waiting for a free worker.'}
        </>
      ) : (
        'Queued — waiting for a free worker.'
      )}
    </p>
  );
}

/** The queue's attempt limit, for "attempt 2 of 20"; null until known (or when unreadable). */
function useMaxAttempts(): number | null {
  const [max, setMax] = useState<number | null>(null);
  useEffect(() => {
    let live = true;
    api.queue().then(
      (queue) => {
        if (live) setMax(queue.settings.max_attempts);
      },
      () => {
        // Without the settings the attempt is shown without its limit.
      },
    );
    return () => {
      live = false;
    };
  }, []);
  return max;
}

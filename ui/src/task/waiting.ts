/**
 * Runs that wait to be retried, in words: what they wait for, which attempt it was, when the
 * next one is, and a queued run's place in the queue. Live states (the run is not over): the
 * server retries at `retry_at`, and a person can retry now or stop.
 */
import { isRunWaiting, type Run } from '../api/types.ts';
import { clockTime, untilTime } from '../widgets/time.ts';

/** "Waiting for credentials" or "Waiting for usage limit"; null for a run that does not wait. */
export function waitingTitle(run: Pick<Run, 'status'>): string | null {
  if (run.status === 'waiting_auth') return 'Waiting for credentials';
  if (run.status === 'waiting_quota') return 'Waiting for usage limit';
  return null;
}

/** "attempt 2 of 20" when the queue's limit is known, else "attempt 2". */
export function attemptText(run: Pick<Run, 'tries'>, maxAttempts?: number | null): string {
  return maxAttempts ? `attempt ${run.tries} of ${maxAttempts}` : `attempt ${run.tries}`;
}

/** When a waiting run is tried again: relative ("in 4 min") and on the local clock. */
export function nextRetry(run: Pick<Run, 'status' | 'retry_at'>, now: number = Date.now()): { relative: string; absolute: string } | null {
  if (!isRunWaiting(run) || !run.retry_at) return null;
  const relative = untilTime(run.retry_at, now);
  if (!relative) return null;
  return { relative: relative === 'now' ? 'any moment now' : relative, absolute: clockTime(run.retry_at, now) };
}

/** "#3 in queue" for a queued run whose place is known. */
/** How often a queued run's place is read again (its place moves as runs ahead start). */
export const QUEUE_POLL_MS = 5000;

export function queuePositionText(run: Pick<Run, 'status' | 'queue_position'>): string | null {
  if (run.status !== 'queued' || run.queue_position == null || run.queue_position < 1) return null;
  return `#${run.queue_position} in queue`;
}

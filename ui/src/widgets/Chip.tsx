/** Small labelled states: task columns, phases, run states. */
import type { RunStatus, TaskPhase, TaskStatus } from '../api/types.ts';
import { columnTitle } from '../board/columns.ts';

/**
 * A run state in words: its name with spaces. Written out rather than listed, so states the
 * server adds (the agents' outcomes: auth required, quota exceeded, …) show without a change
 * here; the stylesheet colours the ones it knows. The two waiting states say what they wait for.
 */
function runStatusText(status: RunStatus): string {
  if (status === 'waiting_auth') return 'waiting for credentials';
  if (status === 'waiting_quota') return 'waiting for usage limit';
  return status.replaceAll('_', ' ');
}

export function TaskStatusChip({ status }: { status: TaskStatus }) {
  return (
    <span className="chip" data-status={status}>
      {columnTitle(status)}
    </span>
  );
}

export function PhaseChip({ phase }: { phase: TaskPhase }) {
  return (
    <span className="chip chip-phase" data-phase={phase}>
      {phase}
    </span>
  );
}

export function RunChip({ status, label }: { status: RunStatus; label?: string }) {
  return (
    <span className="chip chip-run" data-run={status}>
      {(status === 'running' || status === 'queued') && <span className="pulse" aria-hidden="true" />}
      {(status === 'waiting_auth' || status === 'waiting_quota') && <span className="pulse pulse-waiting" aria-hidden="true" />}
      {label ? `${label} ${runStatusText(status)}` : runStatusText(status)}
    </span>
  );
}

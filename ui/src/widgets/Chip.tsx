/** Small labelled states: task columns, phases, run states. */
import type { RunStatus, TaskPhase, TaskStatus } from '../api/types.ts';
import { columnTitle } from '../board/columns.ts';

const RUN_TEXT: Record<RunStatus, string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
};

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
      {label ? `${label} ${RUN_TEXT[status]}` : RUN_TEXT[status]}
    </span>
  );
}

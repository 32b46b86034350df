/**
 * Short names for the API's types. Every type here comes from `schema.ts`, which is generated
 * from the server's OpenAPI document: nothing about the API's shapes is written twice.
 */
import type { components } from './schema.ts';

type Schemas = components['schemas'];

export type Project = Schemas['Project'];
export type CreateProject = Schemas['CreateProject'];
export type CloneProject = Schemas['CloneProject'];
export type CloneStatus = Schemas['CloneStatus'];
export type CloneProgress = Schemas['CloneProgress'];
export type PullOutcome = Schemas['PullOutcome'];

export type BoardData = Schemas['Board'];
export type Column = Schemas['Column'];
export type Cursor = Schemas['Cursor'];
export type Task = Schemas['Task'];
export type TaskStatus = Schemas['TaskStatus'];
export type TaskPhase = Schemas['TaskPhase'];
export type CreateTask = Schemas['CreateTask'];
export type UpdateTask = Schemas['UpdateTask'];

export type Run = Schemas['Run'];
export type RunStatus = Schemas['RunStatus'];
export type LogEntry = Schemas['LogEntry'];
export type LogKind = Schemas['LogKind'];
export type LogPage = Schemas['LogPage'];
export type LogMessage = Schemas['LogMessage'];
export type Diff = Schemas['Diff'];
export type FileDiff = Schemas['FileDiff'];
export type FileStatus = Schemas['FileStatus'];
export type MergeResult = Schemas['MergeResult'];
export type Pushed = Schemas['Pushed'];

export type BoardEvent = Schemas['BoardEvent'];
export type Control = Schemas['Control'];
export type ErrorBody = Schemas['ErrorBody'];

export type User = Schemas['User'];
export type Role = Schemas['Role'];
export type Session = Schemas['Session'];
export type Member = Schemas['Member'];
export type ProjectRole = Schemas['ProjectRole'];
export type AddMember = Schemas['AddMember'];
export type CreateUser = Schemas['CreateUser'];
export type UpdateUser = Schemas['UpdateUser'];
export type Invite = Schemas['Invite'];
export type CreateInvite = Schemas['CreateInvite'];
export type CreatedInvite = Schemas['CreatedInvite'];
export type AuditEntry = Schemas['AuditEntry'];

export type AgentStatus = Schemas['AgentStatus'];
export type CliStatus = Schemas['CliStatus'];

export type QueueStatus = Schemas['QueueStatus'];
export type QueueCounts = Schemas['QueueCounts'];
export type QueueSettings = Schemas['QueueSettings'];
export type SecuritySettings = Schemas['SecuritySettings'];

/** Waiting to be retried: for credentials or for a usage limit to reset. Live, not ended. */
export function isRunWaiting(run: Pick<Run, 'status'> | null | undefined): boolean {
  return run?.status === 'waiting_auth' || run?.status === 'waiting_quota';
}

/** Not ended: queued, running, or waiting to be retried. A task has at most one such run. */
export function isRunActive(run: Pick<Run, 'status'> | null | undefined): boolean {
  return run?.status === 'queued' || run?.status === 'running' || isRunWaiting(run);
}

const STEP: Partial<Record<RunStatus, number>> = { running: 0, waiting_auth: 1, waiting_quota: 1, queued: 2 };

/**
 * How far along its lifecycle a run is. A run may execute several times: each claim makes it
 * `running` and counts a try; it may then wait (`waiting_auth`, `waiting_quota`) or go back to
 * `queued` (a retry now, a recovery), and is claimed again with one more try — until it ends,
 * and an ended run never changes again. So within one try the order is running, waiting,
 * queued; a queued run with no try yet comes first. A late answer carrying an earlier state
 * (a stop request's reply that crossed the run's `run_updated` event) must not replace a later
 * one.
 */
export function runStage(run: Pick<Run, 'status' | 'tries'>): number {
  const step = STEP[run.status];
  if (step === undefined) return Number.POSITIVE_INFINITY;
  return run.tries * 3 + step;
}

/** `next` unless `current` is further along (see `runStage`). */
export function laterRun(current: Run | undefined, next: Run): Run {
  return current && runStage(current) > runStage(next) ? current : next;
}

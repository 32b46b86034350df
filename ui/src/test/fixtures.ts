// Builders for API objects in tests: complete objects with overridable fields.
import type { LogEntry, Project, Run, Task } from '../api/types.ts';

export const PROJECT_ID = '0190aaaa-0000-7000-8000-000000000001';

export function project(fields: Partial<Project> = {}): Project {
  return {
    id: PROJECT_ID,
    name: 'demo',
    repo_path: '/srv/demo',
    default_branch: 'main',
    origin_url: null,
    profile: {},
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...fields,
  };
}

export function task(id: string, fields: Partial<Task> = {}): Task {
  return {
    id,
    project_id: PROJECT_ID,
    title: `Task ${id}`,
    description: '',
    slug: `task-${id}`,
    status: 'backlog',
    phase: null,
    position: 1,
    agent: 'command',
    agent_config: { command: 'echo hi' },
    branch: null,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...fields,
  };
}

export function run(id: string, taskId: string, fields: Partial<Run> = {}): Run {
  return {
    id,
    task_id: taskId,
    attempt: 1,
    kind: 'start',
    status: 'running',
    agent: 'command',
    prompt: 'do it',
    created_at: '2026-01-01T00:00:00Z',
    queued_at: '2026-01-01T00:00:00Z',
    // A queued run has not executed yet; every other state comes with its first try.
    tries: fields.status === 'queued' ? 0 : 1,
    quota_waits: 0,
    recoveries: 0,
    stop_requested: false,
    ...fields,
  };
}

export function entry(seq: number, fields: Partial<LogEntry> = {}): LogEntry {
  return { run_id: 'r1', seq, ts: '2026-01-01T00:00:00Z', kind: 'stdout', text: `line ${seq}`, ...fields };
}

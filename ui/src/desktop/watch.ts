/**
 * What the desktop bridge knows about runs: which are running now, and which board events are
 * transitions worth a desktop notification. Pure state fed by board events and by snapshots of
 * the live runs, so every case is a unit test.
 */
import type { EventMessage } from '../api/events.ts';
import { runStage, type Project, type Run, type RunStatus, type Task } from '../api/types.ts';

/** What a notification says happened to a run. */
export type Outcome = 'finished' | 'failed' | 'waiting_auth' | 'waiting_quota';

/**
 * The outcome a run reaches by entering each state. Live states other than the two waits say
 * nothing, nor does `cancelled` (a person stopped it, and knows). Every state is listed, so a
 * state the server adds cannot be forgotten here.
 */
const OUTCOME: Record<RunStatus, Outcome | null> = {
  queued: null,
  running: null,
  waiting_auth: 'waiting_auth',
  waiting_quota: 'waiting_quota',
  succeeded: 'finished',
  cancelled: null,
  failed: 'failed',
  interrupted: 'failed',
  auth_required: 'failed',
  quota_exceeded: 'failed',
  billing: 'failed',
  server_error: 'failed',
  max_turns: 'failed',
};

export const NOTICE_TITLE: Record<Outcome, string> = {
  finished: 'Run finished',
  failed: 'Run failed',
  waiting_auth: 'Run waiting for credentials',
  waiting_quota: 'Run waiting for a usage limit',
};

/** A run that reached an outcome while the page watched. */
export interface Transition {
  outcome: Outcome;
  runId: string;
  taskId: string;
  projectId: string;
}

/** A live run found by reading the server, with its task's project. */
export interface LiveRun {
  run: Run;
  projectId: string;
}

/** What the server said when read (at start, and after events may have been missed). */
export interface Snapshot {
  projects: Project[];
  /** The tasks read (for their titles). */
  tasks: Task[];
  /** The live runs among them. */
  runs: LiveRun[];
}

/** Runs and tasks remembered at most, the least recently changed forgotten first. */
export const MAX_REMEMBERED = 2000;

interface Known {
  status: RunStatus;
  tries: number;
  /** The wait last told about (or present at load), so a retry that waits again is not news. */
  waited: Outcome | null;
}

interface Where {
  taskId: string;
  projectId: string;
}

export class RunWatch {
  private readonly known = new Map<string, Known>();
  /** Running now, with where they run; bounded by how many runs the server executes at once. */
  private readonly live = new Map<string, Where>();
  private readonly tasks = new Map<string, { title: string; projectId: string }>();
  private projects = new Map<string, string>();

  get running(): number {
    return this.live.size;
  }

  taskTitle(taskId: string): string | undefined {
    return this.tasks.get(taskId)?.title;
  }

  projectName(projectId: string): string | undefined {
    return this.projects.get(projectId);
  }

  rememberTask(task: Task): void {
    remember(this.tasks, task.id, { title: task.title, projectId: task.project_id });
  }

  /** Applies a board event; says which outcome it is news of, if any. */
  apply(message: EventMessage): Transition | null {
    switch (message.type) {
      case 'run_updated':
        return this.runUpdated(message.run, message.project_id);
      case 'task_updated':
        this.rememberTask(message.task);
        return null;
      case 'task_deleted':
        this.tasks.delete(message.task_id);
        this.forgetLive((where) => where.taskId === message.task_id);
        return null;
      case 'project_updated':
        this.projects.set(message.project.id, message.project.name);
        return null;
      case 'project_deleted':
        this.projects.delete(message.project_id);
        this.forgetLive((where) => where.projectId === message.project_id);
        return null;
      case 'clone_progress':
      case 'clone_finished':
      case 'resync':
        return null;
    }
  }

  /**
   * Takes what a snapshot read, except for the runs in `touched`: events about them arrived
   * while it was read and are newer. Running runs it no longer shows stopped running while
   * events were missed. Never news: these states were there before the page saw them change.
   */
  seed(snapshot: Snapshot, touched: ReadonlySet<string>): void {
    this.projects = new Map(snapshot.projects.map((p) => [p.id, p.name]));
    for (const task of snapshot.tasks) this.rememberTask(task);
    const read = new Set(snapshot.runs.map((live) => live.run.id));
    for (const id of [...this.live.keys()]) {
      if (!read.has(id) && !touched.has(id)) this.live.delete(id);
    }
    for (const { run, projectId } of snapshot.runs) {
      if (touched.has(run.id)) continue;
      this.update(run, projectId);
    }
  }

  private runUpdated(run: Run, projectId: string): Transition | null {
    const previous = this.known.get(run.id);
    if (!this.update(run, projectId)) return null;
    const outcome = OUTCOME[run.status];
    if (!outcome || previous?.status === run.status) return null;
    // Waiting again after a retry, for the same reason, was told already.
    if (outcome === previous?.waited) return null;
    return { outcome, runId: run.id, taskId: run.task_id, projectId };
  }

  /** Records the run's state; false when it is older than the one known (crossed events). */
  private update(run: Run, projectId: string): boolean {
    const previous = this.known.get(run.id);
    if (previous && runStage(previous) > runStage(run)) return false;
    const outcome = OUTCOME[run.status];
    const waits = outcome === 'waiting_auth' || outcome === 'waiting_quota';
    remember(this.known, run.id, { status: run.status, tries: run.tries, waited: waits ? outcome : (previous?.waited ?? null) });
    if (run.status === 'running') this.live.set(run.id, { taskId: run.task_id, projectId });
    else this.live.delete(run.id);
    return true;
  }

  private forgetLive(gone: (where: Where) => boolean): void {
    for (const [id, where] of [...this.live]) if (gone(where)) this.live.delete(id);
  }
}

/** Sets `key` as the most recent entry, forgetting the oldest beyond `MAX_REMEMBERED`. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

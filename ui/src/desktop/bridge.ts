/**
 * The desktop bridge: inside Taskyard's desktop window (Tauri), tells the native side how many
 * runs are going (its tray) and which runs just finished, failed or started waiting (desktop
 * notifications), through its one `report` command. In a browser there is no Tauri IPC and
 * nothing here runs.
 *
 * It listens to the page's board socket (the `EventHub` every page shares), so it needs no
 * socket of its own and keeps working on every page. Board events say what changed, not what
 * was there, so the live runs are read once at start and again after a reconnect or a resync.
 */
import { api } from '../api/endpoints.ts';
import type { EventHub } from '../api/events.ts';
import { isRunActive, type Project, type Run, type Task, type TaskStatus } from '../api/types.ts';
import { NOTICE_TITLE, RunWatch, type LiveRun, type Outcome, type Snapshot, type Transition } from './watch.ts';

export interface Notice {
  title: string;
  body: string;
}

/** The `report` command's arguments: the contract with the native side (src-tauri/src/report.rs). */
export interface Report {
  /** Runs going now. */
  running: number;
  /** What changed since the last report. */
  notices: Notice[];
}

export type Invoke = (command: 'report', args: Report) => Promise<unknown>;

/** A command of the desktop app; which ones a page may call is the app's to decide. */
export type DesktopInvoke = (command: string, args: object) => Promise<unknown>;

/** Notices per report at most; the native side refuses more. */
export const MAX_NOTICES = 10;
/** The shortest time between two reports (ms): bursts of changes go in one. */
export const REPORT_INTERVAL_MS = 500;
/** A task title's length in a notice at most. */
export const MAX_TITLE = 120;
const MAX_PROJECT = 60;

/** The columns whose tasks have live runs: the runner moves a task to in progress when its run starts, and to waiting when it waits. */
const LIVE_COLUMNS: readonly TaskStatus[] = ['in_progress', 'waiting'];
/** Cards read per column, and tasks whose runs are read, at most (when reading live runs). */
const SNAPSHOT_COLUMN = 200;
const SNAPSHOT_TASKS = 200;
/** Requests in flight at once while reading live runs. */
const SNAPSHOT_FETCHES = 4;

/**
 * The Tauri IPC of this window, when the page is shown in the desktop app: Tauri puts
 * `__TAURI_INTERNALS__` in its windows only.
 */
export function tauriInvoke(scope: object = globalThis): DesktopInvoke | null {
  const internals = (scope as { __TAURI_INTERNALS__?: { invoke?: unknown } }).__TAURI_INTERNALS__;
  const invoke = internals?.invoke;
  if (typeof invoke !== 'function') return null;
  const call = invoke as (this: unknown, command: string, args: unknown) => unknown;
  return (command, args) => Promise.resolve(call.call(internals, command, args));
}

/** Where the live runs are read from (the API; tests pass a fake). */
export interface Source {
  projects(): Promise<Project[]>;
  column(projectId: string, status: TaskStatus, limit: number): Promise<Task[]>;
  runs(taskId: string): Promise<Run[]>;
  task(taskId: string): Promise<Task>;
}

export const apiSource: Source = {
  projects: () => api.listProjects(),
  column: (projectId, status, limit) => api.column(projectId, status, limit),
  runs: (taskId) => api.listRuns(taskId),
  task: (taskId) => api.getTask(taskId),
};

/**
 * The live runs on the boards this user sees: every project's in-progress and waiting cards,
 * and their runs. A project or task that cannot be read is left out (it may just have been
 * deleted); a run executing on a card someone moved elsewhere is missed until its next event.
 */
export async function readSnapshot(source: Source): Promise<Snapshot> {
  const projects = await source.projects();
  const columns = projects.flatMap((project) => LIVE_COLUMNS.map((status) => ({ project, status })));
  const tasks = (await pool(columns, ({ project, status }) => source.column(project.id, status, SNAPSHOT_COLUMN)))
    .flat()
    .slice(0, SNAPSHOT_TASKS);
  const runs = await pool(tasks, async (task) =>
    (await source.runs(task.id)).filter(isRunActive).map((run): LiveRun => ({ run, projectId: task.project_id })),
  );
  return { projects, tasks, runs: runs.flat() };
}

/** `work` for every item, a few at a time; the answers of those that did not fail. */
async function pool<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const queue = [...items];
  const done: R[] = [];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        done.push(await work(item));
      } catch {
        // Left out: see `readSnapshot`.
      }
    }
  };
  await Promise.all(Array.from({ length: SNAPSHOT_FETCHES }, worker));
  return done;
}

/** `text` without surrounding space, cut to `max` characters with an ellipsis. */
export function cut(text: string, max: number): string {
  const chars = Array.from(text.trim());
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

/** A notice's body: the task's title, and its project's name when known. */
export function noticeBody(title: string | undefined, project: string | undefined): string {
  const where = project === undefined ? undefined : cut(project, MAX_PROJECT);
  if (title === undefined) return where === undefined ? 'A task' : `A task in ${where}`;
  return where === undefined ? cut(title, MAX_TITLE) : `${cut(title, MAX_TITLE)} — ${where}`;
}

const SUMMARY_WORDS: Record<Outcome, string> = {
  finished: 'finished',
  failed: 'failed',
  waiting_auth: 'waiting for credentials',
  waiting_quota: 'waiting for a usage limit',
};

/** One notice for the runs a report has no room for, by outcome. */
export function summaryNotice(counts: ReadonlyMap<Outcome, number>): Notice {
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  const body = (Object.keys(SUMMARY_WORDS) as Outcome[])
    .flatMap((outcome) => {
      const n = counts.get(outcome) ?? 0;
      return n > 0 ? [`${n} ${SUMMARY_WORDS[outcome]}`] : [];
    })
    .join(', ');
  return { title: `${total} more runs changed`, body };
}

function tally(counts: Map<Outcome, number>, outcome: Outcome): void {
  counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
}

interface ReporterOptions {
  invoke: Invoke;
  /** The notice for a transition; never rejects. */
  describe: (transition: Transition) => Promise<Notice>;
  interval: number;
  warn: (message: string, error: unknown) => void;
}

/**
 * Sends reports: when the running count differs from the last one sent or there is news, at
 * most one per `interval` (what comes meanwhile is merged into the next), with at most
 * `MAX_NOTICES` notices (the rest summed up in the last one). Holds everything until `ready`
 * (the first snapshot), so the first count sent is a whole one.
 */
class Reporter {
  private running = 0;
  private reported: number | null = null;
  /** The first transitions not yet sent, with room for one more than a report takes… */
  private pending: Transition[] = [];
  /** …and how many more reached each outcome. */
  private extra = new Map<Outcome, number>();
  private extraCount = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastSent = Number.NEGATIVE_INFINITY;
  private sending = false;
  private isReady = false;
  private stopped = false;

  constructor(private readonly options: ReporterOptions) {}

  setRunning(running: number): void {
    this.running = running;
    this.schedule();
  }

  add(transition: Transition): void {
    if (this.pending.length <= MAX_NOTICES) {
      this.pending.push(transition);
    } else {
      // Counted only: a flood of changes takes no more memory than a few.
      tally(this.extra, transition.outcome);
      this.extraCount += 1;
    }
    this.schedule();
  }

  ready(): void {
    this.isReady = true;
    this.schedule();
  }

  /** Stops for good; the tray is told no runs go any more (this user signed out). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.reported) void this.send({ running: 0, notices: [] });
  }

  private get dirty(): boolean {
    return this.running !== this.reported || this.pending.length > 0;
  }

  private schedule(): void {
    if (this.stopped || !this.isReady || this.sending || this.timer !== undefined || !this.dirty) return;
    const wait = Math.max(0, this.lastSent + this.options.interval - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
  }

  private async flush(): Promise<void> {
    if (!this.dirty) return;
    this.sending = true;
    const transitions = this.pending;
    const extra = this.extra;
    const full = transitions.length + this.extraCount > MAX_NOTICES;
    this.pending = [];
    this.extra = new Map();
    this.extraCount = 0;
    const shown = full ? transitions.slice(0, MAX_NOTICES - 1) : transitions;
    for (const rest of full ? transitions.slice(MAX_NOTICES - 1) : []) tally(extra, rest.outcome);
    try {
      const notices = await Promise.all(shown.map(this.options.describe));
      if (full) notices.push(summaryNotice(extra));
      if (this.stopped) return;
      // The count as it is now: it may have changed while titles were read.
      this.reported = this.running;
      // Not awaited: reports leave in order, and an answer that never comes must not hold
      // back the next one.
      void this.send({ running: this.running, notices });
    } finally {
      this.sending = false;
      this.schedule();
    }
  }

  private async send(report: Report): Promise<void> {
    this.lastSent = Date.now();
    try {
      await this.options.invoke('report', report);
    } catch (error) {
      this.options.warn('the desktop app refused a report (reports go on; this is logged once)', error);
    }
  }
}

export interface BridgeOptions {
  hub: Pick<EventHub, 'subscribe'>;
  invoke: Invoke;
  source?: Source;
  interval?: number;
}

/** Starts reporting; the returned function stops. */
export function startBridge({ hub, invoke, source = apiSource, interval = REPORT_INTERVAL_MS }: BridgeOptions): () => void {
  const watch = new RunWatch();
  let warned = false;
  // Logged once: a window without the permission fails every report the same way.
  const warn = (message: string, error: unknown) => {
    if (warned) return;
    warned = true;
    console.warn(`Taskyard desktop bridge: ${message}`, error);
  };
  const describe = async (transition: Transition): Promise<Notice> => {
    let title = watch.taskTitle(transition.taskId);
    if (title === undefined) {
      try {
        const task = await source.task(transition.taskId);
        watch.rememberTask(task);
        title = task.title;
      } catch {
        // Without its title: the notice still says what happened.
      }
    }
    return { title: NOTICE_TITLE[transition.outcome], body: noticeBody(title, watch.projectName(transition.projectId)) };
  };
  const reporter = new Reporter({ invoke, describe, interval, warn });

  let stopped = false;
  // The runs events told about while a snapshot is read (null: none is read), and whether
  // another read was asked for meanwhile.
  let touched: Set<string> | null = null;
  let again = false;
  const refresh = () => {
    if (touched) {
      again = true;
      return;
    }
    const during = new Set<string>();
    touched = during;
    void readSnapshot(source)
      .then(
        (snapshot) => {
          if (!stopped) watch.seed(snapshot, during);
        },
        () => {
          // The server could not be read: events still count, and the next resync reads again.
        },
      )
      .finally(() => {
        touched = null;
        if (stopped) return;
        reporter.setRunning(watch.running);
        reporter.ready();
        if (again) {
          again = false;
          refresh();
        }
      });
  };

  const unsubscribe = hub.subscribe((message) => {
    // Other listeners share this call: nothing here may throw into them.
    try {
      if (message.type === 'resync') {
        refresh();
        return;
      }
      if (message.type === 'run_updated') touched?.add(message.run.id);
      const transition = watch.apply(message);
      if (transition) reporter.add(transition);
      reporter.setRunning(watch.running);
    } catch (error) {
      warn('a board event could not be followed', error);
    }
  });
  refresh();

  return () => {
    stopped = true;
    unsubscribe();
    reporter.stop();
  };
}

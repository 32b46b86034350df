/**
 * A task: what it asks, its runs as one conversation, the selected run's live log and
 * changes; start, stop, follow up, edit, delete. Escape goes back to the board.
 */
import { useEffect, useState } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import { isRunActive, isRunWaiting, type Project, type Run } from '../api/types.ts';
import { TaskForm } from '../board/TaskForm.tsx';
import { href, navigate } from '../router.ts';
import { PhaseChip, TaskStatusChip } from '../widgets/Chip.tsx';
import { ConfirmDialog } from '../widgets/Dialog.tsx';
import { useNotify } from '../widgets/notices.ts';
import { useShortcuts } from '../widgets/shortcuts.ts';
import { FollowUpForm } from './FollowUpForm.tsx';
import { RunHistory } from './RunHistory.tsx';
import { RunPanel } from './RunPanel.tsx';
import { latestRun } from './taskState.ts';
import { useTask } from './useTask.ts';

export function TaskPage({ projectId, taskId }: { projectId: string; taskId: string }) {
  const { task, runs, deleted, load, setRun, setTask } = useTask(taskId);
  const [project, setProject] = useState<Project | null>(null);
  const [chosenId, setChosenId] = useState<string | null>(null);
  const [dialog, setDialog] = useState<'edit' | 'delete' | null>(null);
  const [busy, setBusy] = useState<'start' | 'stop' | 'delete' | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const notify = useNotify();

  useEffect(() => {
    api.getProject(projectId).then(setProject, () => {
      setProject(null);
    });
  }, [projectId]);

  useShortcuts(
    {
      Escape: () => {
        navigate({ name: 'board', projectId });
      },
    },
    dialog === null,
  );

  const latest = latestRun(runs);
  // The newest run is shown unless the reader picked an older one; a new run takes over.
  const selected: Run | undefined = runs.find((r) => r.id === chosenId && r.id !== latest?.id) ?? latest;
  const active = latest && isRunActive(latest) ? latest : undefined;

  const start = async () => {
    setBusy('start');
    try {
      const run = await api.startRun(taskId);
      setRun(run);
      setChosenId(null);
    } catch (error) {
      notify('error', `Could not start the task: ${describeError(error)}`);
    } finally {
      setBusy(null);
    }
  };

  const stop = async (run: Run) => {
    setBusy('stop');
    try {
      const stopped = await api.stopRun(run.id);
      setRun(stopped);
      // A queued or waiting run is cancelled at once; a running one stops shortly.
      notify('info', isRunActive(stopped) ? `Stopping run ${run.attempt}…` : `Run ${run.attempt} stopped.`);
    } catch (error) {
      notify('error', `Could not stop the run: ${describeError(error)}`);
    } finally {
      setBusy(null);
    }
  };

  const followUp = async (message: string) => {
    const run = await api.followUp(taskId, message);
    setRun(run);
    setChosenId(null);
  };

  if (load.kind === 'error' || deleted) {
    return (
      <div className="page-message">
        <h2>{deleted || (load.kind === 'error' && load.notFound) ? 'This task does not exist (any more).' : 'The task could not be loaded.'}</h2>
        {load.kind === 'error' && !load.notFound && (
          <p className="inline-error" role="alert">
            {load.message}
          </p>
        )}
        <p>
          <a href={href({ name: 'board', projectId })}>Back to the board</a>
        </p>
      </div>
    );
  }

  if (load.kind === 'loading' || !task) {
    return (
      <p className="loading" role="status">
        Loading the task…
      </p>
    );
  }

  const command = task.agent_config['command'];

  return (
    <div className="task-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <a href={href({ name: 'projects' })}>Projects</a>
        <span aria-hidden="true">/</span>
        <a href={href({ name: 'board', projectId })}>{project?.name ?? 'Board'}</a>
        <span aria-hidden="true">/</span>
        <span aria-current="page">{task.title}</span>
      </nav>
      <header className="task-head">
        <div className="task-title-block">
          <h2 className="page-title">{task.title}</h2>
          <div className="task-meta">
            <TaskStatusChip status={task.status} />
            {task.phase && <PhaseChip phase={task.phase} />}
            <span className="muted">
              agent <span className="mono">{task.agent}</span>
              {typeof command === 'string' && command && (
                <>
                  {': '}
                  <code className="task-command" title={command}>
                    {command}
                  </code>
                </>
              )}
            </span>
          </div>
        </div>
        <div className="task-actions">
          {active ? (
            <button type="button" className="button button-danger" disabled={busy !== null} onClick={() => void stop(active)}>
              {busy === 'stop' ? 'Stopping…' : 'Stop'}
            </button>
          ) : (
            <button type="button" className="button button-primary" disabled={busy !== null} onClick={() => void start()}>
              {busy === 'start' ? 'Starting…' : runs.length ? 'Start a new run' : 'Start'}
            </button>
          )}
          <button
            type="button"
            className="button"
            onClick={() => {
              setDialog('edit');
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button button-danger-quiet"
            onClick={() => {
              setDeleteError(null);
              setDialog('delete');
            }}
          >
            Delete
          </button>
        </div>
      </header>

      <div className="task-layout">
        <aside className="task-side">
          <section className="panel" aria-label="Description">
            <h3 className="panel-title">Description</h3>
            {task.description ? <p className="task-description">{task.description}</p> : <p className="muted">No description.</p>}
          </section>
          <section className="panel" aria-labelledby="history-title">
            <h3 id="history-title" className="panel-title">
              Conversation
            </h3>
            <RunHistory
              runs={runs}
              selectedId={selected?.id ?? null}
              onSelect={(run) => {
                setChosenId(run.id);
              }}
            />
            {runs.length > 0 && (
              <FollowUpForm
                disabledReason={
                  active
                    ? isRunWaiting(active)
                      ? 'This run waits to be retried; retry or stop it before sending a follow-up.'
                      : 'The agent is still working; send a follow-up when this run ends.'
                    : null
                }
                onSend={followUp}
              />
            )}
          </section>
        </aside>
        <div className="task-main">
          {selected ? (
            <RunPanel key={selected.id} run={selected} defaultBranch={project?.default_branch ?? 'main'} onRun={setRun} />
          ) : (
            <div className="empty-state">
              <p>
                <strong>Nothing has run yet.</strong> Start the task: its agent works in its own worktree on the branch{' '}
                <span className="mono">taskyard/{task.slug}</span>, and its output streams here.
              </p>
            </div>
          )}
        </div>
      </div>

      {dialog === 'edit' && (
        <TaskForm
          task={task}
          onSubmit={async (body) => {
            setTask(await api.updateTask(task.id, body));
          }}
          onClose={() => {
            setDialog(null);
          }}
        />
      )}
      {dialog === 'delete' && (
        <ConfirmDialog
          title={`Delete “${task.title}”?`}
          confirm="Delete task"
          busy={busy === 'delete'}
          error={deleteError}
          onClose={() => {
            setDialog(null);
          }}
          onConfirm={() => {
            setBusy('delete');
            api
              .deleteTask(task.id)
              .then(() => {
                notify('success', `Deleted “${task.title}”.`);
                navigate({ name: 'board', projectId });
              })
              .catch((error: unknown) => {
                setDeleteError(describeError(error));
              })
              .finally(() => {
                setBusy(null);
              });
          }}
        >
          <p>Its runs and logs are deleted and its worktree removed. The branch stays in the repository.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

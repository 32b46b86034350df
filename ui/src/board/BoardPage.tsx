/**
 * A project's board: the five main columns, the side states below them, a filter, task
 * creation and editing, and moving cards by pointer (drag) or keyboard (Space, arrows, Space).
 * Every change made anywhere shows up live through the board socket.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { describeError } from '../api/client.ts';
import type { Task, TaskStatus } from '../api/types.ts';
import { href, navigate } from '../router.ts';
import { Dialog } from '../widgets/Dialog.tsx';
import { useCurrentUser } from '../auth/context.ts';
import { useNotify } from '../widgets/notices.ts';
import { BOARD_SHORTCUTS, useShortcuts } from '../widgets/shortcuts.ts';
import { BoardColumn } from './BoardColumn.tsx';
import { COLUMNS, MAIN_COLUMNS, SIDE_COLUMNS, STATUS_ORDER, columnTitle } from './columns.ts';
import {
  currentTarget,
  describeTarget,
  isArrow,
  neighbourCard,
  stepTarget,
  type ColumnView,
  type DropTarget,
} from './dnd.ts';
import { matches } from './filter.ts';
import { MembersPanel } from './MembersPanel.tsx';
import { CredentialsPanel } from '../credentials/CredentialsPanel.tsx';
import { trackPointerDrag } from './pointerDrag.ts';
import { isSamePlace } from './positions.ts';
import type { CardHandlers } from './TaskCard.tsx';
import { TaskForm } from './TaskForm.tsx';
import { useBoard } from './useBoard.ts';

interface Moving {
  taskId: string;
  mode: 'pointer' | 'keyboard';
  target: DropTarget | null;
  /** Pointer drags: where the ghost card is drawn. */
  x: number;
  y: number;
  offsetX: number;
  offsetY: number;
  width: number;
}

type DialogState = { kind: 'new' } | { kind: 'edit'; task: Task } | { kind: 'help' } | { kind: 'members' } | { kind: 'credentials' } | null;

export function BoardPage({ projectId }: { projectId: string }) {
  const board = useBoard(projectId);
  const { state, load } = board;
  const notify = useNotify();
  const team = useCurrentUser() !== null;
  const [filter, setFilter] = useState('');
  const [dialog, setDialog] = useState<DialogState>(null);
  const [moving, setMoving] = useState<Moving | null>(null);
  const [announcement, setAnnouncement] = useState('');
  // A card to focus once it is rendered (after a keyboard move or a creation).
  const focusRequest = useRef<string | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  const suppressClick = useRef(false);

  const visible = useMemo(() => {
    const lists = {} as Record<TaskStatus, Task[]>;
    for (const status of STATUS_ORDER) lists[status] = state.columns[status].tasks.filter((t) => matches(t, filter));
    return lists;
  }, [state.columns, filter]);

  const view: ColumnView[] = useMemo(
    () => STATUS_ORDER.map((status) => ({ status, ids: visible[status].map((t) => t.id) })),
    [visible],
  );

  // Handlers stay the same object for the board's lifetime (cards are memoised); they read the
  // latest state through these refs.
  const latest = useRef({ view, moving, state, move: board.move });
  useEffect(() => {
    latest.current = { view, moving, state, move: board.move };
  });

  useEffect(() => {
    const id = focusRequest.current;
    if (!id) return;
    const card = document.querySelector<HTMLElement>(`[data-card-id="${CSS.escape(id)}"]`);
    if (card) {
      card.focus();
      focusRequest.current = null;
    }
  });

  const commit = useCallback(
    (taskId: string, target: DropTarget | null) => {
      setMoving(null);
      const { state: current, move } = latest.current;
      const task = STATUS_ORDER.flatMap((s) => current.columns[s].tasks).find((t) => t.id === taskId);
      if (!task || !target) return;
      if (task.status === target.status && isSamePlace(current.columns[target.status].tasks, taskId, target.beforeId)) {
        setAnnouncement(`${task.title}: not moved.`);
        return;
      }
      setAnnouncement(`Moved ${task.title} to ${describeTarget(latest.current.view, taskId, target)}.`);
      focusRequest.current = taskId;
      move(taskId, target.status, target.beforeId).catch((error: unknown) => {
        notify('error', `Could not move “${task.title}” to ${columnTitle(target.status)}: ${describeError(error)}`);
      });
    },
    [notify],
  );

  const handlers: CardHandlers = useMemo(
    () => ({
      onOpen: (task) => {
        if (suppressClick.current) {
          suppressClick.current = false;
          return;
        }
        navigate({ name: 'task', projectId: task.project_id, taskId: task.id });
      },
      onPointerDown: (event: PointerEvent<HTMLElement>, task) => {
        if (event.button !== 0 || latest.current.moving) return;
        trackPointerDrag(event, task.id, {
          onStart: (start) => {
            setMoving({ taskId: task.id, mode: 'pointer', target: null, ...start });
          },
          onMove: (x, y, target) => {
            setMoving((m) => (m ? { ...m, x, y, target } : m));
          },
          onEnd: (target) => {
            // The click that ends a drag is not a click on the card.
            suppressClick.current = true;
            setTimeout(() => {
              suppressClick.current = false;
            }, 0);
            commit(task.id, target);
          },
        });
      },
      onKeyDown: (event: KeyboardEvent<HTMLElement>, task) => {
        const { view: currentView, moving: current } = latest.current;
        if (current?.mode === 'keyboard' && current.taskId === task.id) {
          event.preventDefault();
          event.stopPropagation();
          if (isArrow(event.key) && current.target) {
            const target = stepTarget(currentView, task.id, current.target, event.key);
            setMoving({ ...current, target });
            setAnnouncement(describeTarget(currentView, task.id, target));
          } else if (event.key === ' ' || event.key === 'Enter') {
            commit(task.id, current.target);
          } else if (event.key === 'Escape') {
            setMoving(null);
            setAnnouncement(`Move of ${task.title} cancelled.`);
          }
          return;
        }
        if (event.ctrlKey || event.altKey || event.metaKey) return;
        if (event.key === ' ') {
          event.preventDefault();
          const target = currentTarget(currentView, task.id);
          setMoving({ taskId: task.id, mode: 'keyboard', target, x: 0, y: 0, offsetX: 0, offsetY: 0, width: 0 });
          setAnnouncement(
            `Picked up ${task.title}. ${target ? describeTarget(currentView, task.id, target) : ''}. Arrow keys move it, Space drops it, Escape cancels.`,
          );
        } else if (event.key === 'Enter') {
          event.preventDefault();
          navigate({ name: 'task', projectId: task.project_id, taskId: task.id });
        } else if (event.key === 'e') {
          event.preventDefault();
          setDialog({ kind: 'edit', task });
        } else if (isArrow(event.key)) {
          event.preventDefault();
          const next = neighbourCard(currentView, task.id, event.key);
          if (next) document.querySelector<HTMLElement>(`[data-card-id="${CSS.escape(next)}"]`)?.focus();
        }
      },
    }),
    [commit],
  );

  // A keyboard move ends when focus leaves the card.
  useEffect(() => {
    if (moving?.mode !== 'keyboard') return;
    const onFocusOut = (event: FocusEvent) => {
      if ((event.target as HTMLElement | null)?.dataset['cardId'] === moving.taskId) setMoving(null);
    };
    document.addEventListener('focusout', onFocusOut);
    return () => {
      document.removeEventListener('focusout', onFocusOut);
    };
  }, [moving?.mode, moving?.taskId]);

  useShortcuts(
    {
      n: (event) => {
        event.preventDefault();
        setDialog({ kind: 'new' });
      },
      '/': (event) => {
        event.preventDefault();
        filterRef.current?.focus();
        filterRef.current?.select();
      },
      '?': (event) => {
        event.preventDefault();
        setDialog({ kind: 'help' });
      },
      Escape: () => {
        if (filter) {
          setFilter('');
          filterRef.current?.blur();
        }
      },
    },
    dialog === null && load.kind === 'ready',
  );

  if (load.kind === 'error') {
    return (
      <div className="page-message">
        <h2>{load.notFound ? 'This project does not exist.' : 'The board could not be loaded.'}</h2>
        <p className="inline-error" role="alert">
          {load.message}
        </p>
        <p>
          {!load.notFound && (
            <button type="button" className="button" onClick={board.reload}>
              Try again
            </button>
          )}{' '}
          <a href={href({ name: 'projects' })}>All projects</a>
        </p>
      </div>
    );
  }

  if (state.deleted) {
    return (
      <div className="page-message">
        <h2>This project was deleted.</h2>
        <p>
          <a href={href({ name: 'projects' })}>All projects</a>
        </p>
      </div>
    );
  }

  const filtered = filter.trim() !== '';
  const total = COLUMNS.reduce((sum, c) => sum + state.columns[c.id].total, 0);
  const movingTask = moving
    ? STATUS_ORDER.flatMap((s) => state.columns[s].tasks).find((t) => t.id === moving.taskId)
    : undefined;

  const column = (meta: (typeof COLUMNS)[number]) => (
    <BoardColumn
      key={meta.id}
      meta={meta}
      column={state.columns[meta.id]}
      visible={visible[meta.id]}
      runs={state.runs}
      handlers={handlers}
      target={moving?.target?.status === meta.id ? moving.target : null}
      movingId={moving?.taskId ?? null}
      grabbed={moving?.mode === 'keyboard'}
      filtered={filtered}
      onLoadMore={() => board.loadMore(meta.id)}
    />
  );

  return (
    <div className="board-page">
      <nav className="breadcrumbs" aria-label="Breadcrumbs">
        <a href={href({ name: 'projects' })}>Projects</a>
        <span aria-hidden="true">/</span>
        <span aria-current="page">{state.project?.name ?? '…'}</span>
      </nav>
      <div className="toolbar">
        <div className="toolbar-title">
          <h2 className="page-title">{state.project?.name ?? 'Board'}</h2>
          {state.project && (
            <span className="muted mono" title="Repository">
              {state.project.repo_path} · {state.project.default_branch}
            </span>
          )}
        </div>
        <div className="toolbar-actions">
          <input
            ref={filterRef}
            type="search"
            className="filter"
            placeholder="Filter cards  ( / )"
            aria-label="Filter cards"
            value={filter}
            onChange={(event) => {
              setFilter(event.target.value);
            }}
            onKeyDown={(event) => {
              if (event.key === 'Escape') {
                setFilter('');
                event.currentTarget.blur();
              }
            }}
          />
          <button type="button" className="button button-primary" onClick={() => { setDialog({ kind: 'new' }); }}>
            New task <kbd>n</kbd>
          </button>
          {team && (
            <button type="button" className="button" onClick={() => { setDialog({ kind: 'members' }); }}>
              Members
            </button>
          )}
          <button type="button" className="button" onClick={() => { setDialog({ kind: 'credentials' }); }}>
            Credentials
          </button>
          <button
            type="button"
            className="icon-button"
            aria-label="Keyboard shortcuts"
            title="Keyboard shortcuts (?)"
            onClick={() => { setDialog({ kind: 'help' }); }}
          >
            ?
          </button>
        </div>
      </div>

      {load.kind === 'loading' ? (
        <p className="loading" role="status">
          Loading the board…
        </p>
      ) : (
        <>
          {total === 0 && (
            <div className="empty-state board-empty">
              <p>
                <strong>No tasks yet.</strong> A task is a piece of work for an agent: create one, then start it from its
                card.
              </p>
              <button type="button" className="button button-primary" onClick={() => { setDialog({ kind: 'new' }); }}>
                Create the first task
              </button>
            </div>
          )}
          <div className="board" aria-label="Task columns">
            {MAIN_COLUMNS.map(column)}
          </div>
          <h3 className="side-title">Other states</h3>
          <div className="board board-side" aria-label="Waiting, failed and cancelled tasks">
            {SIDE_COLUMNS.map(column)}
          </div>
        </>
      )}

      <p id="board-keys-help" className="visually-hidden">
        Enter opens the task. Space picks the card up to move it with the arrow keys.
      </p>
      <p className="visually-hidden" role="status" aria-live="assertive">
        {announcement}
      </p>

      {moving?.mode === 'pointer' && movingTask && (
        <div
          className="card drag-ghost"
          aria-hidden="true"
          style={{ left: moving.x - moving.offsetX, top: moving.y - moving.offsetY, width: moving.width }}
        >
          <span className="card-title">{movingTask.title}</span>
        </div>
      )}

      {dialog?.kind === 'new' && (
        <TaskForm
          onSubmit={async (body) => {
            const task = await board.create(body);
            notify('success', `Created “${task.title}”.`);
            focusRequest.current = task.id;
          }}
          onClose={() => { setDialog(null); }}
        />
      )}
      {dialog?.kind === 'edit' && (
        <TaskForm
          task={dialog.task}
          onSubmit={(body) => board.update(dialog.task.id, body)}
          onClose={() => { setDialog(null); }}
        />
      )}
      {dialog?.kind === 'help' && (
        <Dialog title="Keyboard shortcuts" onClose={() => { setDialog(null); }}>
          <dl className="shortcuts">
            {BOARD_SHORTCUTS.map(([keys, what]) => (
              <div key={keys} className="shortcut">
                <dt>
                  <kbd>{keys}</kbd>
                </dt>
                <dd>{what}</dd>
              </div>
            ))}
          </dl>
        </Dialog>
      )}
      {dialog?.kind === 'credentials' && (
        <Dialog title="Credentials" wide onClose={() => { setDialog(null); }}>
          <CredentialsPanel projectId={projectId} />
        </Dialog>
      )}
      {dialog?.kind === 'members' && (
        <Dialog title="Members" wide onClose={() => { setDialog(null); }}>
          <MembersPanel projectId={projectId} />
        </Dialog>
      )}
    </div>
  );
}

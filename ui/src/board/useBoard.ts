/**
 * A project's board, live: loads it, applies board socket events, reloads when events were
 * missed, reads queued runs' places again while they wait, pages columns, and carries out moves (optimistically, undone when the server says
 * no), task creation and edits.
 */
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import { useBoardEvents } from '../api/events.ts';
import type { BoardData, CreateTask, Task, TaskStatus, UpdateTask } from '../api/types.ts';
import { QUEUE_POLL_MS } from '../task/waiting.ts';
import { EMPTY_BOARD, boardReducer, findTask, queuedRuns } from './boardState.ts';
import { positionForDrop, respace } from './positions.ts';

/** Cards per column on the first load and per "show more". */
export const COLUMN_PAGE = 50;
/** Requests for latest runs in flight at once. */
const RUN_FETCHES = 4;
/** Queued runs whose places are read again per tick (the first ones the board holds). */
const QUEUED_READS = 20;

export type LoadState = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string; notFound: boolean };

export function failure(error: unknown): LoadState {
  return { kind: 'error', message: describeError(error), notFound: error instanceof ApiError && error.isNotFound };
}

export function useBoard(projectId: string) {
  const [state, dispatch] = useReducer(boardReducer, EMPTY_BOARD);
  const [load, setLoad] = useState<LoadState>({ kind: 'loading' });
  const stateRef = useRef(state);
  useEffect(() => {
    stateRef.current = state;
  });

  const fetchRuns = useCallback(async (board: BoardData) => {
    // The board does not say which run a card had last; ask for the cards that ever ran.
    const queue = board.columns
      .filter((column) => column.status !== 'backlog')
      .flatMap((column) => column.tasks.map((t) => t.id));
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          dispatch({ type: 'runs', runs: await api.listRuns(id) });
        } catch {
          // A card without its run state is still a card.
        }
      }
    };
    await Promise.all(Array.from({ length: RUN_FETCHES }, worker));
  }, []);

  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => {
    setGeneration((g) => g + 1);
  }, []);

  useEffect(() => {
    let live = true;
    api.board(projectId, COLUMN_PAGE).then(
      (board) => {
        if (!live) return;
        dispatch({ type: 'loaded', board });
        setLoad({ kind: 'ready' });
        void fetchRuns(board);
      },
      (error: unknown) => {
        if (live) setLoad(failure(error));
      },
    );
    return () => {
      live = false;
    };
  }, [projectId, generation, fetchRuns]);

  useBoardEvents((message) => {
    dispatch({ type: 'event', message });
  });

  // Queued runs' places move as runs ahead of them start, which no board event says: while
  // cards show queued runs, their places are read again every few seconds.
  const hasQueued = queuedRuns(state).length > 0;
  useEffect(() => {
    if (!hasQueued) return;
    let live = true;
    const timer = setInterval(() => {
      for (const queued of queuedRuns(stateRef.current).slice(0, QUEUED_READS)) {
        api.getRun(queued.id).then(
          (fresh) => {
            if (live) dispatch({ type: 'runs', runs: [fresh] });
          },
          () => {
            // Read again at the next tick.
          },
        );
      }
    }, QUEUE_POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [hasQueued]);

  // Missed or unplaceable events: reload once things settle.
  useEffect(() => {
    if (!state.stale) return;
    const timer = setTimeout(reload, 150);
    return () => {
      clearTimeout(timer);
    };
  }, [state.stale, reload]);

  const loadMore = useCallback(
    async (status: TaskStatus) => {
      const column = stateRef.current.columns[status];
      if (!column.next) return;
      const tasks = await api.columnPage(projectId, status, column.next, COLUMN_PAGE);
      const last = tasks.at(-1);
      dispatch({
        type: 'page',
        status,
        tasks,
        next: tasks.length === COLUMN_PAGE && last ? { position: last.position, id: last.id } : null,
      });
    },
    [projectId],
  );

  /** Moves a card before `beforeId` (null: the end) of `status`. Rejects with the server's error. */
  const move = useCallback(
    async (taskId: string, status: TaskStatus, beforeId: string | null) => {
      const current = stateRef.current;
      const task = findTask(current, taskId);
      if (!task) return;
      const column = current.columns[status];
      let nextUnloaded: number | undefined;
      if (beforeId === null && column.next) {
        const [first] = await api.columnPage(projectId, status, column.next, 1);
        nextUnloaded = first?.position;
      }
      const position = positionForDrop(column.tasks, taskId, beforeId, nextUnloaded);
      if (position === null) {
        await respaceColumn(column.tasks, task, beforeId, nextUnloaded, status);
        return;
      }
      dispatch({ type: 'task', task: { ...task, status, position } });
      try {
        dispatch({ type: 'task', task: await api.updateTask(taskId, { status, position }) });
      } catch (error) {
        dispatch({ type: 'task', task });
        throw error;
      }
    },
    [projectId],
  );

  const create = useCallback(
    async (body: CreateTask) => {
      const task = await api.createTask(projectId, body);
      dispatch({ type: 'task', task });
      return task;
    },
    [projectId],
  );

  const update = useCallback(async (taskId: string, body: UpdateTask) => {
    const task = await api.updateTask(taskId, body);
    dispatch({ type: 'task', task });
    return task;
  }, []);

  return { state, load, reload, loadMore, move, create, update };

  /** The rare case of cards packed too closely: give the column fresh, even positions. */
  async function respaceColumn(
    cards: readonly Task[],
    moved: Task,
    beforeId: string | null,
    nextUnloaded: number | undefined,
    status: TaskStatus,
  ) {
    const others = cards.filter((t) => t.id !== moved.id).map((t) => t.id);
    const at = beforeId === null ? others.length : Math.max(0, others.indexOf(beforeId));
    others.splice(at, 0, moved.id);
    const lower = Math.min(...cards.map((t) => t.position), moved.position) - 1;
    for (const [id, position] of respace(others, lower, nextUnloaded)) {
      const body: UpdateTask = id === moved.id ? { status, position } : { position };
      dispatch({ type: 'task', task: await api.updateTask(id, body) });
    }
  }
}

export type BoardApi = ReturnType<typeof useBoard>;

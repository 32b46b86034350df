/** A task and its runs, loaded and kept live by the board socket. */
import { useCallback, useEffect, useReducer, useState } from 'react';
import { api } from '../api/endpoints.ts';
import { useBoardEvents } from '../api/events.ts';
import type { BoardEvent, Control, Run, Task } from '../api/types.ts';
import { failure, type LoadState } from '../board/useBoard.ts';
import { EMPTY_TASK, applyTaskEvent, upsertRun, type TaskState } from './taskState.ts';

type Action =
  | { type: 'loaded'; task: Task; runs: Run[] }
  | { type: 'task'; task: Task }
  | { type: 'run'; run: Run }
  | { type: 'event'; taskId: string; message: BoardEvent | Control };

function reducer(state: TaskState, action: Action): TaskState {
  switch (action.type) {
    case 'loaded':
      return { task: action.task, runs: upsertRunsSorted(action.runs), deleted: false, stale: false };
    case 'task':
      return { ...state, task: action.task };
    case 'run':
      return { ...state, runs: upsertRun(state.runs, action.run) };
    case 'event':
      return applyTaskEvent(state, action.taskId, action.message);
  }
}

function upsertRunsSorted(runs: Run[]): Run[] {
  return runs.reduce<Run[]>((list, run) => upsertRun(list, run), []);
}


export function useTask(taskId: string) {
  const [state, dispatch] = useReducer(reducer, EMPTY_TASK);
  const [load, setLoad] = useState<LoadState>({ kind: 'loading' });

  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => {
    setGeneration((g) => g + 1);
  }, []);

  useEffect(() => {
    let live = true;
    Promise.all([api.getTask(taskId), api.listRuns(taskId)]).then(
      ([task, runs]) => {
        if (!live) return;
        dispatch({ type: 'loaded', task, runs });
        setLoad({ kind: 'ready' });
      },
      (error: unknown) => {
        if (live) setLoad(failure(error));
      },
    );
    return () => {
      live = false;
    };
  }, [taskId, generation]);

  useBoardEvents((message) => {
    dispatch({ type: 'event', taskId, message });
  });

  useEffect(() => {
    if (!state.stale) return;
    const timer = setTimeout(reload, 0);
    return () => {
      clearTimeout(timer);
    };
  }, [state.stale, reload]);

  const setRun = useCallback((run: Run) => {
    dispatch({ type: 'run', run });
  }, []);
  const setTask = useCallback((task: Task) => {
    dispatch({ type: 'task', task });
  }, []);

  return { ...state, load, reload, setRun, setTask };
}

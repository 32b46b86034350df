/**
 * Clones in progress, as the projects page tracks them: started here, advanced by the board
 * socket's `clone_progress` / `clone_finished` events, caught up from `GET /api/clones/{id}`.
 */
import type { BoardEvent, CloneProgress, CloneStatus, Project } from '../api/types.ts';

export interface CloneItem {
  id: string;
  url: string;
  state: 'running' | 'done' | 'failed';
  progress: CloneProgress;
  project: Project | null;
  error: string | null;
}

export type Clones = Readonly<Record<string, CloneItem>>;

function stateOf(status: string): CloneItem['state'] {
  return status === 'done' || status === 'failed' ? status : 'running';
}

/** A clone the server answered for (on start, or when catching up). */
export function fromStatus(clones: Clones, url: string, status: CloneStatus): Clones {
  const current = clones[status.clone_id];
  return {
    ...clones,
    [status.clone_id]: {
      id: status.clone_id,
      url: current?.url ?? url,
      // A finished clone never goes back to running, whatever arrives late.
      state: current && current.state !== 'running' ? current.state : stateOf(status.state),
      progress: status.progress,
      project: status.project ?? current?.project ?? null,
      error: status.error ?? current?.error ?? null,
    },
  };
}

export function applyCloneEvent(clones: Clones, event: BoardEvent): Clones {
  if (event.type !== 'clone_progress' && event.type !== 'clone_finished') return clones;
  const current = clones[event.clone_id];
  // Clones started in other tabs are not shown here; they appear as projects when done.
  if (!current) return clones;
  if (event.type === 'clone_progress') {
    return current.state === 'running' ? { ...clones, [current.id]: { ...current, progress: event.progress } } : clones;
  }
  return {
    ...clones,
    [current.id]: {
      ...current,
      state: event.project ? 'done' : 'failed',
      project: event.project ?? null,
      error: event.error ?? (event.project ? null : 'The clone failed.'),
    },
  };
}

/** How far along a clone is (0–1, or null before git knows the size) and what it is doing. */
export function cloneMeter(progress: CloneProgress): { fraction: number | null; label: string } {
  const { received_objects, total_objects, indexed_deltas, total_deltas, received_bytes } = progress;
  if (total_objects === 0) return { fraction: null, label: 'Connecting…' };
  const fraction = Math.min(1, (received_objects + indexed_deltas) / (total_objects + total_deltas));
  if (received_objects < total_objects) {
    return {
      fraction,
      label: `Receiving objects: ${received_objects} of ${total_objects} (${formatBytes(received_bytes)})`,
    };
  }
  if (total_deltas > 0 && indexed_deltas < total_deltas) {
    return { fraction, label: `Resolving deltas: ${indexed_deltas} of ${total_deltas}` };
  }
  return { fraction, label: `Checking out files (${formatBytes(received_bytes)} received)` };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

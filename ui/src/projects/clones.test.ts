import { describe, expect, it } from 'vitest';
import type { CloneProgress } from '../api/types.ts';
import { project } from '../test/fixtures.ts';
import { applyCloneEvent, cloneMeter, formatBytes, fromStatus, type Clones } from './clones.ts';

const zero: CloneProgress = { received_objects: 0, total_objects: 0, indexed_deltas: 0, total_deltas: 0, received_bytes: 0 };

function started(): Clones {
  return fromStatus({}, 'https://example.com/a.git', { clone_id: 'c1', state: 'running', progress: zero });
}

describe('clone tracking', () => {
  it('advances with progress events and finishes with the project', () => {
    let clones = started();
    const progress = { ...zero, received_objects: 5, total_objects: 10, received_bytes: 2048 };
    clones = applyCloneEvent(clones, { type: 'clone_progress', clone_id: 'c1', progress });
    expect(clones['c1']?.progress).toEqual(progress);
    clones = applyCloneEvent(clones, { type: 'clone_finished', clone_id: 'c1', project: project() });
    expect(clones['c1']?.state).toBe('done');
    expect(clones['c1']?.project?.name).toBe('demo');
    // Late progress does not reopen it.
    expect(applyCloneEvent(clones, { type: 'clone_progress', clone_id: 'c1', progress: zero })).toBe(clones);
  });

  it('keeps the reason a clone failed', () => {
    const clones = applyCloneEvent(started(), { type: 'clone_finished', clone_id: 'c1', error: 'authentication required' });
    expect(clones['c1']).toMatchObject({ state: 'failed', error: 'authentication required' });
  });

  it("ignores other tabs' clones", () => {
    const clones = started();
    expect(applyCloneEvent(clones, { type: 'clone_progress', clone_id: 'other', progress: zero })).toBe(clones);
  });

  it('does not let a late status answer undo a finished clone', () => {
    const done = applyCloneEvent(started(), { type: 'clone_finished', clone_id: 'c1', project: project() });
    expect(fromStatus(done, '', { clone_id: 'c1', state: 'running', progress: zero })['c1']?.state).toBe('done');
  });
});

describe('cloneMeter', () => {
  it('is indeterminate until git knows the size', () => {
    expect(cloneMeter(zero)).toEqual({ fraction: null, label: 'Connecting…' });
  });

  it('counts objects, then deltas', () => {
    expect(cloneMeter({ ...zero, received_objects: 5, total_objects: 10, total_deltas: 10, received_bytes: 3 * 1024 * 1024 })).toEqual({
      fraction: 0.25,
      label: 'Receiving objects: 5 of 10 (3.0 MiB)',
    });
    expect(cloneMeter({ ...zero, received_objects: 10, total_objects: 10, indexed_deltas: 5, total_deltas: 10 }).label).toBe(
      'Resolving deltas: 5 of 10',
    );
    expect(cloneMeter({ ...zero, received_objects: 10, total_objects: 10 }).fraction).toBe(1);
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});

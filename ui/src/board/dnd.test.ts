import { describe, expect, it } from 'vitest';
import { currentTarget, describeTarget, neighbourCard, stepTarget, type ColumnView } from './dnd.ts';

const view: ColumnView[] = [
  { status: 'backlog', ids: ['a', 'b', 'c'] },
  { status: 'queued', ids: [] },
  { status: 'in_progress', ids: ['x', 'y'] },
];

describe('keyboard moves', () => {
  it('starts where the card is', () => {
    expect(currentTarget(view, 'b')).toEqual({ status: 'backlog', beforeId: 'c' });
    expect(currentTarget(view, 'c')).toEqual({ status: 'backlog', beforeId: null });
    expect(currentTarget(view, 'nope')).toBeNull();
  });

  it('moves up and down within a column, stopping at the ends', () => {
    const start = { status: 'backlog' as const, beforeId: 'c' };
    const up = stepTarget(view, 'b', start, 'ArrowUp');
    expect(up).toEqual({ status: 'backlog', beforeId: 'a' });
    expect(stepTarget(view, 'b', up, 'ArrowUp')).toBe(up);
    const down = stepTarget(view, 'b', start, 'ArrowDown');
    expect(down).toEqual({ status: 'backlog', beforeId: null });
    expect(stepTarget(view, 'b', down, 'ArrowDown')).toBe(down);
  });

  it('moves across columns, including empty ones', () => {
    const start = { status: 'backlog' as const, beforeId: 'c' };
    const queued = stepTarget(view, 'b', start, 'ArrowRight');
    expect(queued).toEqual({ status: 'queued', beforeId: null });
    const inProgress = stepTarget(view, 'b', queued, 'ArrowRight');
    expect(inProgress).toEqual({ status: 'in_progress', beforeId: 'x' });
    expect(stepTarget(view, 'b', inProgress, 'ArrowRight')).toBe(inProgress);
    expect(stepTarget(view, 'b', start, 'ArrowLeft')).toBe(start);
  });

  it('announces the place', () => {
    expect(describeTarget(view, 'b', { status: 'in_progress', beforeId: 'y' })).toBe('In progress, position 2 of 3');
    expect(describeTarget(view, 'b', { status: 'backlog', beforeId: null })).toBe('Backlog, position 3 of 3');
  });
});

describe('focus moves', () => {
  it('walks a column and jumps over empty columns', () => {
    expect(neighbourCard(view, 'b', 'ArrowUp')).toBe('a');
    expect(neighbourCard(view, 'a', 'ArrowUp')).toBeNull();
    expect(neighbourCard(view, 'c', 'ArrowRight')).toBe('y');
    expect(neighbourCard(view, 'x', 'ArrowLeft')).toBe('a');
    expect(neighbourCard(view, 'y', 'ArrowRight')).toBeNull();
  });
});

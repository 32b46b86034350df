import { describe, expect, it } from 'vitest';
import { href, parseRoute } from './router.ts';

describe('routes', () => {
  it('parses the hash', () => {
    expect(parseRoute('')).toEqual({ name: 'projects' });
    expect(parseRoute('#/')).toEqual({ name: 'projects' });
    expect(parseRoute('#/projects/p1')).toEqual({ name: 'board', projectId: 'p1' });
    expect(parseRoute('#/projects/p1/tasks/t1/')).toEqual({ name: 'task', projectId: 'p1', taskId: 't1' });
    expect(parseRoute('#/elsewhere')).toEqual({ name: 'not_found', path: '/elsewhere' });
  });

  it('round-trips', () => {
    for (const route of [
      { name: 'projects' },
      { name: 'board', projectId: 'a b' },
      { name: 'task', projectId: 'p', taskId: 't/1' },
    ] as const) {
      expect(parseRoute(href(route))).toEqual(route);
    }
  });
});

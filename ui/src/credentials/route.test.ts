import { describe, expect, it } from 'vitest';
import { href, parseRoute } from '../router.ts';

describe('credentials route', () => {
  it('parses and writes #/settings/credentials', () => {
    expect(parseRoute('#/settings/credentials')).toEqual({ name: 'credentials' });
    expect(parseRoute('#/settings/credentials/')).toEqual({ name: 'credentials' });
    expect(href({ name: 'credentials' })).toBe('#/settings/credentials');
  });
});

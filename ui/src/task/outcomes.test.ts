import { describe, expect, it } from 'vitest';
import { mergeMessage, pushMessage } from './outcomes.ts';

describe('outcome messages', () => {
  it('says what a merge did', () => {
    const base = { branch: 'taskyard/say-hi', into: 'main' };
    expect(mergeMessage({ ...base, outcome: { kind: 'fast_forward', commit: 'a3ebc55fb4dee4c85e86' } })).toBe(
      'Merged taskyard/say-hi into main (fast-forward to a3ebc55fb4).',
    );
    expect(mergeMessage({ ...base, outcome: { kind: 'merge_commit', commit: '0123456789abcdef' } })).toMatch(
      /with merge commit 0123456789\./,
    );
    expect(mergeMessage({ ...base, outcome: { kind: 'already_up_to_date' } })).toMatch(/nothing to merge/);
  });

  it('says what a push did', () => {
    expect(pushMessage({ branch: 'taskyard/x' })).toBe('Pushed taskyard/x to origin.');
  });
});

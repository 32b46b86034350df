/** What merges and pushes did, in words. */
import type { MergeResult, Pushed } from '../api/types.ts';

export function mergeMessage(result: MergeResult): string {
  const { outcome, branch, into } = result;
  switch (outcome.kind) {
    case 'already_up_to_date':
      return `${into} already contains everything on ${branch}; nothing to merge.`;
    case 'fast_forward':
      return `Merged ${branch} into ${into} (fast-forward to ${outcome.commit.slice(0, 10)}).`;
    case 'merge_commit':
      return `Merged ${branch} into ${into} with merge commit ${outcome.commit.slice(0, 10)}.`;
  }
}

export function pushMessage(pushed: Pushed): string {
  return `Pushed ${pushed.branch} to origin.`;
}

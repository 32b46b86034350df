import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Diff } from '../api/types.ts';
import { DiffView } from './DiffView.tsx';

const diff: Diff = {
  base_commit: 'a',
  head_commit: 'b',
  insertions: 2,
  deletions: 1,
  files: [
    {
      path: 'src/main.rs',
      status: 'modified',
      insertions: 1,
      deletions: 1,
      binary: false,
      truncated: false,
      patch: '--- a/src/main.rs\n+++ b/src/main.rs\n@@ -1 +1 @@\n-fn main() {}\n+fn main() { run(); }\n',
    },
    { path: 'out.txt', status: 'added', insertions: 1, deletions: 0, binary: false, truncated: false, patch: '@@ -0,0 +1 @@\n+do it\n' },
    { path: 'logo.png', status: 'added', insertions: 0, deletions: 0, binary: true, truncated: false, patch: '' },
  ],
};

describe('DiffView', () => {
  it('lists the files with their counts', () => {
    render(<DiffView diff={diff} />);
    expect(screen.getByText('3 files changed,', { exact: false })).toBeInTheDocument();
    const list = screen.getByRole('list', { name: 'Files changed' });
    expect(within(list).getAllByRole('link').map((a) => a.textContent)).toEqual([
      'Msrc/main.rs+1 −1',
      'Aout.txt+1 −0',
      'Alogo.png+0 −0',
    ]);
  });

  it('shows each patch with line numbers and colours', () => {
    const { container } = render(<DiffView diff={diff} />);
    const added = container.querySelector('#diff-file-0 .diff-add');
    expect(added).toHaveTextContent('+fn main() { run(); }');
    expect(added?.querySelector('.tok-keyword')).toHaveTextContent('fn');
    expect(container.querySelector('#diff-file-0 .diff-del .diff-no')).toHaveTextContent('1');
    expect(screen.getByText('Binary file; no text to show.')).toBeInTheDocument();
  });

  it('has an empty state', () => {
    render(<DiffView diff={{ ...diff, files: [], insertions: 0, deletions: 0 }} />);
    expect(screen.getByText('This run changed no files.')).toBeInTheDocument();
  });
});

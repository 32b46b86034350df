import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Board } from './Board.tsx';

describe('Board', () => {
  it('renders the five columns in workflow order', () => {
    render(<Board />);
    const columns = screen.getAllByRole('region');
    expect(columns.map((column) => within(column).getByRole('heading').textContent)).toEqual([
      'Backlog',
      'Queued',
      'In progress',
      'In review',
      'Done',
    ]);
  });

  it('shows an empty state in every column', () => {
    render(<Board />);
    for (const name of ['Backlog', 'Queued', 'In progress', 'In review', 'Done']) {
      const column = screen.getByRole('region', { name });
      expect(column.querySelector('.column-empty')).toHaveTextContent(/\S/);
    }
    expect(within(screen.getByRole('region', { name: 'Backlog' })).getByText('No tasks in the backlog.')).toBeVisible();
  });
});

/** One column: its title and count, its cards (with the drop marker while moving), paging. */
import { Fragment, useState } from 'react';
import { describeError } from '../api/client.ts';
import type { Run, Task } from '../api/types.ts';
import type { ColumnState } from './boardState.ts';
import type { ColumnMeta } from './columns.ts';
import type { DropTarget } from './dnd.ts';
import { TaskCard, type CardHandlers } from './TaskCard.tsx';

export function BoardColumn({
  meta,
  column,
  visible,
  runs,
  handlers,
  target,
  movingId,
  grabbed,
  filtered,
  onLoadMore,
}: {
  meta: ColumnMeta;
  column: ColumnState;
  /** The cards that pass the filter, in board order. */
  visible: readonly Task[];
  runs: Readonly<Record<string, Run>>;
  handlers: CardHandlers;
  /** Where the card being moved would land, when in this column. */
  target: DropTarget | null;
  movingId: string | null;
  grabbed: boolean;
  filtered: boolean;
  onLoadMore: () => Promise<void>;
}) {
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const headingId = `column-${meta.id}`;
  const marker = <li className="drop-marker" aria-hidden="true" />;
  const hidden = column.total - column.tasks.length;

  const loadMore = async () => {
    setLoading(true);
    setError(null);
    try {
      await onLoadMore();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setLoading(false);
    }
  };

  return (
    <section
      className={`column${meta.side ? ' column-side' : ''}${target ? ' column-target' : ''}`}
      aria-labelledby={headingId}
      data-column={meta.id}
    >
      <header className="column-head">
        <h2 id={headingId} className="column-title">
          {meta.title}
        </h2>
        <span className="column-count" aria-label={`${column.total} tasks`}>
          {filtered ? `${visible.length}/${column.total}` : column.total}
        </span>
      </header>
      <ol className="column-cards">
        {visible.map((task) => (
          <Fragment key={task.id}>
            {target?.beforeId === task.id && marker}
            <li className="card-slot">
              <TaskCard
                task={task}
                run={runs[task.id]}
                handlers={handlers}
                dragging={movingId === task.id && !grabbed}
                grabbed={movingId === task.id && grabbed}
              />
            </li>
          </Fragment>
        ))}
        {target?.beforeId === null && marker}
      </ol>
      {visible.length === 0 && !target && (
        <p className="column-empty">{filtered && column.tasks.length > 0 ? 'No cards match the filter.' : meta.empty}</p>
      )}
      {column.next && (
        <button type="button" className="button button-small column-more" disabled={loading} onClick={() => void loadMore()}>
          {loading ? 'Loading…' : `Show ${hidden > 0 ? `${hidden} ` : ''}more`}
        </button>
      )}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

/**
 * The Kanban board: one column per task status. It holds no tasks yet, so
 * every column shows its empty state; cards will render inside the lists.
 */
import { COLUMNS, type Column } from './columns.ts';

export function Board() {
  return (
    <div className="board">
      {COLUMNS.map((column) => (
        <BoardColumn key={column.id} column={column} />
      ))}
    </div>
  );
}

function BoardColumn({ column }: { column: Column }) {
  const headingId = `column-${column.id}`;
  return (
    <section className="column" aria-labelledby={headingId} data-column={column.id}>
      <h2 id={headingId} className="column-title">
        {column.title}
      </h2>
      <p className="column-empty">{column.empty}</p>
    </section>
  );
}

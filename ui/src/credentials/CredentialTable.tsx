/** A tier's stored values: key, masked value (never the secret), lock, when set; replace and delete. */
import type { CredentialView } from './api.ts';

export const UNREADABLE = 'cannot be read — set it again';

export function LockedBadge() {
  return (
    <span className="chip credential-locked" title="Locked globally: nobody can override it">
      locked
    </span>
  );
}

export function MaskedValue({ masked }: { masked: string | null | undefined }) {
  if (masked === null || masked === undefined) {
    return <span className="credential-unreadable">{UNREADABLE}</span>;
  }
  return <code className="mono credential-masked">{masked}</code>;
}

export function CredentialTable({
  views,
  editable,
  onReplace,
  onDelete,
}: {
  views: CredentialView[];
  editable: boolean;
  onReplace: (key: string) => void;
  onDelete: (key: string) => void;
}) {
  return (
    <table className="table credential-table">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Value</th>
          <th scope="col">Set</th>
          {editable && (
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {views.map((view) => (
          <tr key={view.key} data-key={view.key}>
            <th scope="row" className="mono">
              {view.key} {view.locked && <LockedBadge />}
            </th>
            <td>
              <MaskedValue masked={view.masked} />
            </td>
            <td className="muted">
              <time dateTime={view.updated_at}>{new Date(view.updated_at).toLocaleString()}</time>
            </td>
            {editable && (
              <td className="table-actions">
                <button
                  type="button"
                  className="button button-small"
                  aria-label={`Replace ${view.key}`}
                  onClick={() => {
                    onReplace(view.key);
                  }}
                >
                  Replace
                </button>
                <button
                  type="button"
                  className="button button-small button-danger-quiet"
                  aria-label={`Delete ${view.key}`}
                  onClick={() => {
                    onDelete(view.key);
                  }}
                >
                  Delete
                </button>
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * One tier of credentials: its stored values (masked), a form to set or replace one, delete
 * with a confirmation. Loads on mount; `onChanged` runs after every change (the project
 * panel reloads its effective set).
 */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { ConfirmDialog } from '../widgets/Dialog.tsx';
import { useNotify } from '../widgets/notices.ts';
import type { CredentialNames, CredentialView, TierApi } from './api.ts';
import { CredentialForm } from './CredentialForm.tsx';
import { CredentialTable } from './CredentialTable.tsx';

type Load =
  | { status: 'loading' }
  | { status: 'ready'; views: CredentialView[] }
  | { status: 'forbidden'; message: string }
  | { status: 'error'; message: string };

export function TierSection({
  title,
  description,
  tier,
  names,
  editable = true,
  onChanged,
  onForbidden,
}: {
  title: string;
  description: ReactNode;
  tier: TierApi;
  names: CredentialNames | null;
  editable?: boolean;
  onChanged?: () => void;
  /** Called when the server refuses to list this tier (403); the section then hides its form. */
  onForbidden?: () => void;
}) {
  const notify = useNotify();
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  const [key, setKey] = useState('');
  const [deleting, setDeleting] = useState<string | null>(null);
  const [deleteBusy, setDeleteBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const valueRef = useRef<HTMLInputElement>(null);

  const fetchList = useCallback(async (): Promise<Load> => {
    try {
      return { status: 'ready', views: await tier.list() };
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        onForbidden?.();
        return { status: 'forbidden', message: error.message };
      }
      return { status: 'error', message: describeError(error) };
    }
  }, [tier, onForbidden]);

  const reload = useCallback(async () => {
    setLoad(await fetchList());
  }, [fetchList]);

  useEffect(() => {
    let live = true;
    void fetchList().then((loaded) => {
      if (live) setLoad(loaded);
    });
    return () => {
      live = false;
    };
  }, [fetchList]);

  const confirmDelete = async () => {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(null);
    try {
      await tier.remove(deleting);
      notify('success', `Deleted ${deleting}`);
      setDeleting(null);
      await reload();
      onChanged?.();
    } catch (error) {
      setDeleteError(describeError(error));
    } finally {
      setDeleteBusy(false);
    }
  };

  const headingId = `credentials-${tier.tier}`;
  const views = load.status === 'ready' ? load.views : [];
  return (
    <section className="panel credential-tier" aria-labelledby={headingId}>
      <h3 className="panel-title" id={headingId}>
        {title}
      </h3>
      <p className="muted credential-tier-description">{description}</p>
      {load.status === 'loading' && (
        <p className="loading" role="status">
          Loading…
        </p>
      )}
      {load.status === 'error' && (
        <p className="inline-error" role="alert">
          {load.message}
        </p>
      )}
      {load.status === 'forbidden' && <p className="muted">{load.message}</p>}
      {load.status === 'ready' &&
        (views.length === 0 ? (
          <p className="empty-state credential-empty">No values stored here yet.</p>
        ) : (
          <CredentialTable
            views={views}
            editable={editable}
            onReplace={(replaced) => {
              setKey(replaced);
              valueRef.current?.focus();
            }}
            onDelete={(deleted) => {
              setDeleteError(null);
              setDeleting(deleted);
            }}
          />
        ))}
      {load.status === 'ready' && editable && (
        <CredentialForm
          tier={tier}
          names={names}
          existing={views}
          keyValue={key}
          onKeyChange={setKey}
          valueRef={valueRef}
          onSaved={(saved) => {
            notify('success', `Saved ${saved.key}`);
            void reload().then(() => onChanged?.());
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting}?`}
          confirm="Delete"
          busy={deleteBusy}
          error={deleteError}
          onConfirm={() => void confirmDelete()}
          onClose={() => {
            setDeleting(null);
          }}
        >
          <p>
            The {tier.tier} value of <code className="mono">{deleting}</code> is removed. Runs started after this no
            longer get it from here.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

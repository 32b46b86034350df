/**
 * Shows the notices raised with `useNotify`, read out by screen readers. Errors stay until
 * dismissed; other notices go after a few seconds.
 */
import { useCallback, useRef, useState, type ReactNode } from 'react';
import { NoticeContext, type Notice, type Notify } from './notices.ts';

const LIFETIME_MS = 4000;

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<Notice[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => {
    setNotices((list) => list.filter((n) => n.id !== id));
  }, []);

  const notify = useCallback<Notify>(
    (kind, text) => {
      const id = nextId.current++;
      setNotices((list) => [...list.slice(-4), { id, kind, text }]);
      if (kind !== 'error') setTimeout(() => {
        dismiss(id);
      }, LIFETIME_MS);
    },
    [dismiss],
  );

  return (
    <NoticeContext value={notify}>
      {children}
      <div className="notices" role="status" aria-live="polite">
        {notices.map((notice) => (
          <div key={notice.id} className={`notice notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : undefined}>
            <span>{notice.text}</span>
            <button
              type="button"
              className="notice-close"
              aria-label="Dismiss"
              onClick={() => {
                dismiss(notice.id);
              }}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </NoticeContext>
  );
}

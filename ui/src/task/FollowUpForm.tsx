/** Tell the agent what to do next: a new run in the same worktree and session. */
import { useId, useState, type SubmitEvent } from 'react';
import { describeError } from '../api/client.ts';

export function FollowUpForm({
  disabledReason,
  onSend,
}: {
  /** Why a follow-up cannot be sent now, if it cannot. */
  disabledReason: string | null;
  onSend: (message: string) => Promise<void>;
}) {
  const id = useId();
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const send = async (event?: SubmitEvent) => {
    event?.preventDefault();
    if (!message.trim() || disabledReason) return;
    setBusy(true);
    setError(null);
    try {
      await onSend(message.trim());
      setMessage('');
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="follow-up" onSubmit={(event) => void send(event)}>
      <label htmlFor={`${id}-message`} className="follow-up-label">
        Follow-up
      </label>
      <textarea
        id={`${id}-message`}
        value={message}
        rows={3}
        placeholder="Tell the agent what to do next… (Ctrl+Enter sends)"
        onChange={(event) => {
          setMessage(event.target.value);
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) void send();
        }}
      />
      {disabledReason && <p className="field-hint">{disabledReason}</p>}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button button-primary" disabled={busy || !message.trim() || disabledReason !== null}>
        {busy ? 'Sending…' : 'Send follow-up'}
      </button>
    </form>
  );
}

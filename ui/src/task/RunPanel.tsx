/**
 * One run, opened: its facts, its live log and its changes, and the buttons that act on its
 * branch (merge into the base branch, push to origin) with what they did, or why not.
 */
import { useEffect, useId, useState } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import { isRunActive, isRunWaiting, type Diff, type Run } from '../api/types.ts';
import { DiffView } from '../diff/DiffView.tsx';
import { RunLog } from '../log/RunLog.tsx';
import { RunChip } from '../widgets/Chip.tsx';
import { useNotify } from '../widgets/notices.ts';
import { elapsed } from '../widgets/time.ts';
import { mergeMessage, pushMessage } from './outcomes.ts';
import { QueuedNotice, WaitingNotice } from './WaitingNotice.tsx';

type Tab = 'log' | 'changes';
type Outcome = { kind: 'ok' | 'error'; text: string } | null;

export function RunPanel({
  run,
  defaultBranch,
  onRun,
}: {
  run: Run;
  defaultBranch: string;
  /** A newer state of the run (from its log's end). */
  onRun: (run: Run) => void;
}) {
  const [tab, setTab] = useState<Tab>('log');
  const [opened, setOpened] = useState<Record<Tab, boolean>>({ log: true, changes: false });
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [busy, setBusy] = useState<'merge' | 'push' | null>(null);
  const notify = useNotify();
  const id = useId();
  const active = isRunActive(run);
  const waiting = isRunWaiting(run);
  const base = run.base_branch ?? defaultBranch;

  const choose = (next: Tab) => {
    setTab(next);
    setOpened((o) => ({ ...o, [next]: true }));
  };

  const merge = async () => {
    setBusy('merge');
    setOutcome(null);
    try {
      const text = mergeMessage(await api.merge(run.id));
      setOutcome({ kind: 'ok', text });
      notify('success', text);
    } catch (error) {
      setOutcome({ kind: 'error', text: `Merge refused: ${describeError(error)}` });
    } finally {
      setBusy(null);
    }
  };

  const push = async (token?: string) => {
    setBusy('push');
    setOutcome(null);
    try {
      const text = pushMessage(await api.push(run.id, token));
      setOutcome({ kind: 'ok', text });
      notify('success', text);
    } catch (error) {
      setOutcome({ kind: 'error', text: `Push failed: ${describeError(error)}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="run-panel" aria-label={`Run ${run.attempt}`}>
      <header className="run-head">
        <div className="run-facts">
          <h3 className="run-title">
            Run {run.attempt} <RunChip status={run.status} />
          </h3>
          <span className="muted">
            {run.branch ? (
              <>
                <span className="mono">{run.branch}</span> from <span className="mono">{base}</span>
              </>
            ) : run.status === 'queued' ? (
              'not started yet'
            ) : (
              'preparing the worktree…'
            )}
            {run.started_at && ` · ${elapsed(run.started_at, run.finished_at)}`}
            {run.exit_code != null && ` · exit code ${run.exit_code}`}
          </span>
          {run.error && run.status !== 'succeeded' && !waiting && <span className="inline-error">{run.error}</span>}
        </div>
        <div className="run-actions">
          <button
            type="button"
            className="button button-primary"
            disabled={active || busy !== null || !run.branch}
            title={active ? (waiting ? 'The run waits to be retried: stop it or let it finish first' : 'Wait for the run to finish') : `Merge ${run.branch ?? 'the branch'} into ${base}`}
            onClick={() => void merge()}
          >
            {busy === 'merge' ? 'Merging…' : `Merge into ${base}`}
          </button>
          <PushButton disabled={active || busy !== null || !run.branch} busy={busy === 'push'} onPush={push} />
        </div>
      </header>
      {waiting && <WaitingNotice run={run} onRun={onRun} />}
      <QueuedNotice run={run} onRun={onRun} />
      {outcome && (
        <p className={outcome.kind === 'ok' ? 'outcome outcome-ok' : 'outcome outcome-error'} role={outcome.kind === 'ok' ? 'status' : 'alert'}>
          {outcome.text}
        </p>
      )}
      <div className="tabs" role="tablist" aria-label="Run views">
        {(['log', 'changes'] as const).map((name) => (
          <button
            key={name}
            type="button"
            role="tab"
            id={`${id}-${name}-tab`}
            aria-selected={tab === name}
            aria-controls={`${id}-${name}`}
            className="tab"
            onClick={() => {
              choose(name);
            }}
          >
            {name === 'log' ? 'Log' : `Changes${run.files_changed != null ? ` (${run.files_changed})` : ''}`}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-log`} aria-labelledby={`${id}-log-tab`} hidden={tab !== 'log'} className="tab-panel">
        <RunLog runId={run.id} onEnd={onRun} />
      </div>
      <div role="tabpanel" id={`${id}-changes`} aria-labelledby={`${id}-changes-tab`} hidden={tab !== 'changes'} className="tab-panel">
        {opened.changes && <Changes run={run} />}
      </div>
    </section>
  );
}

function PushButton({ disabled, busy, onPush }: { disabled: boolean; busy: boolean; onPush: (token?: string) => Promise<void> }) {
  const [asking, setAsking] = useState(false);
  const [token, setToken] = useState('');
  if (!asking) {
    return (
      <span className="push">
        <button type="button" className="button" disabled={disabled} onClick={() => void onPush()}>
          {busy ? 'Pushing…' : 'Push branch'}
        </button>
        <button
          type="button"
          className="link-button"
          disabled={disabled}
          onClick={() => {
            setAsking(true);
          }}
        >
          with a token…
        </button>
      </span>
    );
  }
  return (
    <form
      className="push push-token"
      onSubmit={(event) => {
        event.preventDefault();
        void onPush(token).then(() => {
          setToken('');
          setAsking(false);
        });
      }}
    >
      <input
        type="password"
        aria-label="Access token for the push (not stored)"
        placeholder="access token"
        autoComplete="off"
        value={token}
        onChange={(event) => {
          setToken(event.target.value);
        }}
      />
      <button type="submit" className="button" disabled={disabled || !token}>
        {busy ? 'Pushing…' : 'Push'}
      </button>
      <button
        type="button"
        className="link-button"
        onClick={() => {
          setAsking(false);
        }}
      >
        Cancel
      </button>
    </form>
  );
}

/** The run's diff, read again whenever the run moves on (a running agent keeps changing it). */
function Changes({ run }: { run: Run }) {
  const [generation, setGeneration] = useState(0);
  const key = `${run.id}/${run.status}/${run.head_commit ?? ''}/${generation}`;
  const [answer, setAnswer] = useState<{ key: string; diff: Diff | null; error: string | null } | null>(null);

  useEffect(() => {
    let live = true;
    api.diff(run.id).then(
      (diff) => {
        if (live) setAnswer({ key, diff, error: null });
      },
      (error: unknown) => {
        if (live) setAnswer((last) => ({ key, diff: last?.diff ?? null, error: describeError(error) }));
      },
    );
    return () => {
      live = false;
    };
  }, [key, run.id]);

  const loading = answer?.key !== key;
  return (
    <div className="changes">
      <div className="changes-bar">
        <button
          type="button"
          className="button button-small"
          disabled={loading}
          onClick={() => {
            setGeneration((g) => g + 1);
          }}
        >
          {loading ? 'Reading…' : 'Refresh'}
        </button>
      </div>
      {answer?.error && (
        <p className="inline-error" role="alert">
          {answer.error}
        </p>
      )}
      {!answer?.diff && loading && (
        <p className="loading" role="status">
          Reading the changes…
        </p>
      )}
      {answer?.diff && <DiffView diff={answer.diff} />}
    </div>
  );
}

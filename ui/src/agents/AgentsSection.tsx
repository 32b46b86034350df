/**
 * The agents' status: for each agent CLI, the program a run would start (where it was found,
 * which version it says it is, or why it cannot be used) and the credential it would get.
 * In the desktop app on this computer the program can be chosen here, by path or in the
 * native file picker: a GUI app does not see the shell's PATH, so a CLI installed somewhere
 * unusual is pointed at by hand.
 */
import { useCallback, useEffect, useId, useState, type SyntheticEvent } from 'react';
import { describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import type { AgentStatus, CliStatus } from '../api/types.ts';
import { cliState, credentialText, isChosenPath, STATE_TEXT } from './agents.ts';
import { describeRefusal, type ProgramControls } from '../desktop/programs.ts';
import { useNotify } from '../widgets/notices.ts';

export function AgentsSection({ programs = null }: { programs?: ProgramControls | null }) {
  const id = useId();
  const [agents, setAgents] = useState<AgentStatus[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    api.agents().then(
      (next) => {
        setAgents(next);
        setLoadError(null);
      },
      (failure: unknown) => {
        setLoadError(describeError(failure));
      },
    );
  }, []);

  useEffect(refresh, [refresh]);

  return (
    <section className="agents-section" aria-labelledby={`${id}-title`}>
      <div className="section-head">
        <h3 id={`${id}-title`} className="panel-title">
          Agents
        </h3>
        <button type="button" className="button button-small" onClick={refresh}>
          Check again
        </button>
      </div>
      <p className="muted">Each agent’s program as a run finds it: where it is, which version it is, and the credential it would use.</p>
      {loadError && (
        <p className="inline-error" role="alert">
          {loadError}
        </p>
      )}
      {!agents && !loadError && (
        <p className="loading" role="status">
          Looking for the agents…
        </p>
      )}
      {agents && (
        <ul className="agent-list">
          {agents.map((agent) => (
            <AgentItem key={agent.name} agent={agent} programs={programs} onChanged={refresh} />
          ))}
        </ul>
      )}
    </section>
  );
}

function AgentItem({ agent, programs, onChanged }: { agent: AgentStatus; programs: ProgramControls | null; onChanged: () => void }) {
  const id = useId();
  const cli = agent.cli;
  if (!cli) {
    return (
      <li className="agent-item" aria-labelledby={`${id}-name`}>
        <div className="agent-head">
          <strong id={`${id}-name`}>{agent.display_name}</strong>
        </div>
        <p className="muted">Runs the command each task names.</p>
      </li>
    );
  }
  const state = cliState(cli);
  return (
    <li className="agent-item" aria-labelledby={`${id}-name`} data-agent={agent.name}>
      <div className="agent-head">
        <strong id={`${id}-name`}>{agent.display_name}</strong>
        <span className="chip agent-state" data-agent-state={state}>
          {STATE_TEXT[state]}
        </span>
      </div>
      <dl className="agent-facts">
        <dt>Program</dt>
        <dd>
          <code>{cli.program}</code>
        </dd>
        <dt>Found at</dt>
        <dd>{cli.path ? <code>{cli.path}</code> : '—'}</dd>
        <dt>Version</dt>
        <dd>{cli.version ?? '—'}</dd>
        <dt>Credential</dt>
        <dd>{credentialText(cli)}</dd>
      </dl>
      {cli.problem && <p className="inline-error agent-problem">{cli.problem}</p>}
      {state === 'missing' && !isChosenPath(cli.program) && (
        <p className="muted">
          Install it with <code>npm install -g {cli.package}</code>
          {programs ? ', or choose where it is below.' : ' on the server.'}
        </p>
      )}
      {programs && <ProgramForm agent={agent.name} name={agent.display_name} cli={cli} programs={programs} onChanged={onChanged} />}
    </li>
  );
}

function ProgramForm({
  agent,
  name,
  cli,
  programs,
  onChanged,
}: {
  agent: string;
  name: string;
  cli: CliStatus;
  programs: ProgramControls;
  onChanged: () => void;
}) {
  const id = useId();
  const notify = useNotify();
  const chosen = isChosenPath(cli.program);
  const [path, setPath] = useState(chosen ? cli.program : '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const act = async (work: () => Promise<string | null>, cancelled: boolean) => {
    setError(null);
    setBusy(true);
    try {
      const kept = await work();
      if (kept === null && cancelled) return;
      setPath(kept ?? '');
      notify('success', kept ? `${name} runs ${kept} from now on.` : `${name} is looked up in the agents’ PATH again.`);
      onChanged();
    } catch (failure) {
      setError(`Not changed: ${describeRefusal(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: SyntheticEvent) => {
    event.preventDefault();
    void act(() => programs.set(agent, path), false);
  };

  const inputId = `${id}-path`;
  return (
    <form className="program-form" onSubmit={submit} aria-label={`${name} program`}>
      <label htmlFor={inputId}>Program on this computer</label>
      <div className="program-row">
        <input
          id={inputId}
          type="text"
          spellCheck={false}
          autoComplete="off"
          placeholder={`/home/you/.local/bin/${cli.program.split('/').pop() ?? agent}`}
          value={path}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${inputId}-error` : undefined}
          onChange={(event) => {
            setPath(event.target.value);
            setError(null);
          }}
        />
        <button type="submit" className="button button-small" disabled={busy || path.trim() === ''}>
          Use this path
        </button>
        <button type="button" className="button button-small" disabled={busy} onClick={() => void act(() => programs.choose(agent), true)}>
          Choose…
        </button>
        {chosen && (
          <button type="button" className="button button-small" disabled={busy} onClick={() => void act(() => programs.set(agent, null), false)}>
            Find it in PATH
          </button>
        )}
      </div>
      {error && (
        <p className="field-error" id={`${inputId}-error`} role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/**
 * The projects: each is a git repository on the server's machine. Add a local repository by
 * its path, or clone one by URL (with a progress bar fed by the board socket); pull, open or
 * delete the ones there are. The list follows changes made in other tabs.
 */
import { useCallback, useEffect, useId, useState, type SubmitEvent } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import { api } from '../api/endpoints.ts';
import { useBoardEvents } from '../api/events.ts';
import type { Project } from '../api/types.ts';
import { href, navigate } from '../router.ts';
import { ConfirmDialog } from '../widgets/Dialog.tsx';
import { Field } from '../widgets/Field.tsx';
import { useNotify } from '../widgets/notices.ts';
import { applyCloneEvent, cloneMeter, fromStatus, type CloneItem, type Clones } from './clones.ts';

type Load = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string };

function byName(a: Project, b: Project): number {
  return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

export function ProjectsPage() {
  const [projects, setProjects] = useState<Project[]>([]);
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const [clones, setClones] = useState<Clones>({});
  const [deleting, setDeleting] = useState<Project | null>(null);

  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => {
    setGeneration((g) => g + 1);
  }, []);

  useEffect(() => {
    let live = true;
    api.listProjects().then(
      (list) => {
        if (!live) return;
        setProjects(list.sort(byName));
        setLoad({ kind: 'ready' });
      },
      (error: unknown) => {
        if (live) setLoad({ kind: 'error', message: describeError(error) });
      },
    );
    return () => {
      live = false;
    };
  }, [generation]);

  const catchUpClones = useCallback(async (running: CloneItem[]) => {
    for (const clone of running) {
      try {
        const status = await api.cloneStatus(clone.id);
        setClones((c) => fromStatus(c, clone.url, status));
      } catch {
        // The server forgets old clones; the project list shows the result.
      }
    }
  }, []);

  useBoardEvents((message) => {
    switch (message.type) {
      case 'resync':
        reload();
        void catchUpClones(Object.values(clones).filter((c) => c.state === 'running'));
        return;
      case 'project_updated':
        setProjects((list) => [...list.filter((p) => p.id !== message.project.id), message.project].sort(byName));
        return;
      case 'project_deleted':
        setProjects((list) => list.filter((p) => p.id !== message.project_id));
        return;
      case 'clone_progress':
      case 'clone_finished':
        setClones((c) => applyCloneEvent(c, message));
        return;
      default:
        return;
    }
  });

  const startClone = async (url: string, token: string, name: string) => {
    const status = await api.cloneProject({ url, ...(token ? { token } : {}), ...(name ? { name } : {}) });
    setClones((c) => fromStatus(c, url, status));
    // Events sent before this tab knew the clone id are not lost: ask once.
    void catchUpClones([{ id: status.clone_id, url, state: 'running', progress: status.progress, project: null, error: null }]);
  };

  return (
    <div className="projects-page">
      <h2 className="page-title">Projects</h2>
      <div className="projects-layout">
        <section aria-labelledby="project-list-title" className="panel">
          <h3 id="project-list-title" className="panel-title">
            Repositories
          </h3>
          {load.kind === 'loading' && (
            <p className="loading" role="status">
              Loading projects…
            </p>
          )}
          {load.kind === 'error' && (
            <div>
              <p className="inline-error" role="alert">
                {load.message}
              </p>
              <button type="button" className="button" onClick={reload}>
                Try again
              </button>
            </div>
          )}
          {load.kind === 'ready' && projects.length === 0 && (
            <p className="empty-state">
              No projects yet. Add a git repository from this machine, or clone one, to get a board for it.
            </p>
          )}
          <ul className="project-list">
            {projects.map((project) => (
              <ProjectRow
                key={project.id}
                project={project}
                onDelete={() => {
                  setDeleting(project);
                }}
              />
            ))}
          </ul>
          {Object.values(clones).length > 0 && (
            <ul className="clone-list" aria-label="Clones">
              {Object.values(clones).map((clone) => (
                <CloneRow
                  key={clone.id}
                  clone={clone}
                  onDismiss={() => {
                    setClones((c) => Object.fromEntries(Object.entries(c).filter(([id]) => id !== clone.id)));
                  }}
                />
              ))}
            </ul>
          )}
        </section>
        <div className="projects-forms">
          <AddLocal
            onAdded={(project) => {
              setProjects((list) => [...list.filter((p) => p.id !== project.id), project].sort(byName));
              navigate({ name: 'board', projectId: project.id });
            }}
          />
          <CloneForm onClone={startClone} />
        </div>
      </div>
      {deleting && (
        <DeleteProject
          project={deleting}
          onDone={() => {
            setProjects((list) => list.filter((p) => p.id !== deleting.id));
            setDeleting(null);
          }}
          onClose={() => {
            setDeleting(null);
          }}
        />
      )}
    </div>
  );
}

function ProjectRow({ project, onDelete }: { project: Project; onDelete: () => void }) {
  const notify = useNotify();
  const [pulling, setPulling] = useState(false);

  const pull = async () => {
    setPulling(true);
    try {
      const outcome = await api.pullProject(project.id);
      notify(
        'success',
        outcome.kind === 'up_to_date'
          ? `${project.name}: already up to date.`
          : `${project.name}: fast-forwarded ${project.default_branch} from ${outcome.from.slice(0, 7)} to ${outcome.to.slice(0, 7)}.`,
      );
    } catch (error) {
      notify('error', `Pull of ${project.name} failed: ${describeError(error)}`);
    } finally {
      setPulling(false);
    }
  };

  return (
    <li className="project-row">
      <div className="project-main">
        <a className="project-name" href={href({ name: 'board', projectId: project.id })}>
          {project.name}
        </a>
        <span className="muted mono project-path">{project.repo_path}</span>
        <span className="muted">
          branch <span className="mono">{project.default_branch}</span>
          {project.origin_url && (
            <>
              {' '}
              · origin <span className="mono">{project.origin_url}</span>
            </>
          )}
        </span>
      </div>
      <div className="project-actions">
        <button
          type="button"
          className="button button-small"
          disabled={pulling || !project.origin_url}
          title={project.origin_url ? 'Fast-forward from origin' : 'This repository has no origin to pull from'}
          onClick={() => void pull()}
        >
          {pulling ? 'Pulling…' : 'Pull'}
        </button>
        <button type="button" className="button button-small button-danger-quiet" onClick={onDelete}>
          Delete
        </button>
      </div>
    </li>
  );
}

function CloneRow({ clone, onDismiss }: { clone: CloneItem; onDismiss: () => void }) {
  const meter = cloneMeter(clone.progress);
  return (
    <li className="clone-row" data-state={clone.state}>
      <span className="mono clone-url">{clone.url}</span>
      {clone.state === 'running' && (
        <>
          <progress
            className="clone-progress"
            aria-label={`Cloning ${clone.url}`}
            max={1}
            {...(meter.fraction === null ? {} : { value: meter.fraction })}
          />
          <span className="muted">{meter.label}</span>
        </>
      )}
      {clone.state === 'done' && clone.project && (
        <span>
          Cloned. <a href={href({ name: 'board', projectId: clone.project.id })}>Open the board of {clone.project.name}</a>{' '}
          <button type="button" className="link-button" onClick={onDismiss}>
            Dismiss
          </button>
        </span>
      )}
      {clone.state === 'failed' && (
        <span>
          <span className="inline-error" role="alert">
            Clone failed: {clone.error}
          </span>{' '}
          <button type="button" className="link-button" onClick={onDismiss}>
            Dismiss
          </button>
        </span>
      )}
    </li>
  );
}

function AddLocal({ onAdded }: { onAdded: (project: Project) => void }) {
  const id = useId();
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    if (!path.trim().startsWith('/')) {
      setError({ field: 'path', message: 'Give the absolute path of the repository, e.g. /home/me/code/app.' });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const project = await api.addProject({ path: path.trim(), ...(name.trim() ? { name: name.trim() } : {}) });
      setPath('');
      setName('');
      onAdded(project);
    } catch (e) {
      setError({ ...(e instanceof ApiError && e.field ? { field: e.field } : {}), message: describeError(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form" onSubmit={(event) => void submit(event)} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`} className="panel-title">
        Add a local repository
      </h3>
      <Field
        id={`${id}-path`}
        label="Repository path"
        hint="The repository's root folder on the machine Taskyard runs on."
        error={error?.field === 'path' ? error.message : undefined}
      >
        <input
          id={`${id}-path`}
          className="mono"
          value={path}
          placeholder="/home/me/code/app"
          onChange={(event) => {
            setPath(event.target.value);
          }}
          aria-invalid={error?.field === 'path' ? true : undefined}
        />
      </Field>
      <Field id={`${id}-name`} label="Name (optional)" error={error?.field === 'name' ? error.message : undefined}>
        <input
          id={`${id}-name`}
          value={name}
          placeholder="the folder's name"
          onChange={(event) => {
            setName(event.target.value);
          }}
        />
      </Field>
      {error && error.field !== 'path' && error.field !== 'name' && (
        <p className="inline-error" role="alert">
          {error.message}
        </p>
      )}
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? 'Adding…' : 'Add project'}
      </button>
    </form>
  );
}

function CloneForm({ onClone }: { onClone: (url: string, token: string, name: string) => Promise<void> }) {
  const id = useId();
  const [url, setUrl] = useState('');
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    if (!/^https?:\/\//.test(url.trim())) {
      setError({ field: 'url', message: 'Give an https:// (or http://) URL.' });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onClone(url.trim(), token, name.trim());
      setUrl('');
      setToken('');
      setName('');
    } catch (e) {
      setError({ ...(e instanceof ApiError && e.field ? { field: e.field } : {}), message: describeError(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel form" onSubmit={(event) => void submit(event)} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`} className="panel-title">
        Clone a repository
      </h3>
      <Field id={`${id}-url`} label="URL" error={error?.field === 'url' ? error.message : undefined}>
        <input
          id={`${id}-url`}
          className="mono"
          value={url}
          placeholder="https://github.com/owner/repo.git"
          onChange={(event) => {
            setUrl(event.target.value);
          }}
          aria-invalid={error?.field === 'url' ? true : undefined}
        />
      </Field>
      <Field
        id={`${id}-token`}
        label="Access token (optional)"
        hint="For a private repository. Used for this clone only, never stored."
        error={error?.field === 'token' ? error.message : undefined}
      >
        <input
          id={`${id}-token`}
          type="password"
          autoComplete="off"
          value={token}
          onChange={(event) => {
            setToken(event.target.value);
          }}
        />
      </Field>
      <Field id={`${id}-name`} label="Name (optional)" error={error?.field === 'name' ? error.message : undefined}>
        <input
          id={`${id}-name`}
          value={name}
          onChange={(event) => {
            setName(event.target.value);
          }}
        />
      </Field>
      {error && !['url', 'token', 'name'].includes(error.field ?? '') && (
        <p className="inline-error" role="alert">
          {error.message}
        </p>
      )}
      <button type="submit" className="button" disabled={busy}>
        {busy ? 'Starting…' : 'Clone'}
      </button>
    </form>
  );
}

function DeleteProject({ project, onDone, onClose }: { project: Project; onDone: () => void; onClose: () => void }) {
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <ConfirmDialog
      title={`Delete ${project.name}?`}
      confirm="Delete project"
      busy={busy}
      error={error}
      onClose={onClose}
      onConfirm={() => {
        setBusy(true);
        api
          .deleteProject(project.id)
          .then(() => {
            notify('success', `Deleted ${project.name}.`);
            onDone();
          })
          .catch((e: unknown) => {
            setError(describeError(e));
            setBusy(false);
          });
      }}
    >
      <p>
        Its tasks, runs and logs are removed from Taskyard. The repository folder{' '}
        <span className="mono">{project.repo_path}</span> stays on disk unless Taskyard cloned it.
      </p>
    </ConfirmDialog>
  );
}

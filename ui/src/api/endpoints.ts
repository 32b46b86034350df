/**
 * Typed calls to every endpoint the UI uses, on `openapi-fetch` over the generated `paths`:
 * paths, parameters, bodies and answers are checked against the OpenAPI document at compile
 * time. Every call resolves with the answer's data or rejects with an `ApiError`.
 */
import createClient from 'openapi-fetch';
import { errorFromBody } from './client.ts';
import type { paths } from './schema.ts';
import type {
  CloneProject,
  CreateProject,
  CreateTask,
  Cursor,
  TaskStatus,
  UpdateTask,
} from './types.ts';

const http = createClient<paths>({
  // Absolute, so the same code runs under Node's fetch in tests; same-origin in the browser.
  baseUrl: globalThis.location.origin,
  // Looked up per call, so tests can stub the global fetch after this module loaded.
  fetch: (request) => globalThis.fetch(request),
  headers: { Accept: 'application/json' },
});

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a 2xx answer, or the server's error as an `ApiError`. */
async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw errorFromBody(response.status, response.statusText, error);
  return data as T;
}

const byId = (id: string) => ({ params: { path: { id } } });

export const api = {
  // Projects
  listProjects: () => unwrap(http.GET('/api/projects')),
  getProject: (id: string) => unwrap(http.GET('/api/projects/{id}', byId(id))),
  addProject: (body: CreateProject) => unwrap(http.POST('/api/projects', { body })),
  cloneProject: (body: CloneProject) => unwrap(http.POST('/api/projects/clone', { body })),
  cloneStatus: (cloneId: string) =>
    unwrap(http.GET('/api/clones/{clone_id}', { params: { path: { clone_id: cloneId } } })),
  pullProject: (id: string) => unwrap(http.POST('/api/projects/{id}/pull', { ...byId(id), body: {} })),
  deleteProject: (id: string) => unwrap(http.DELETE('/api/projects/{id}', byId(id))),

  // Board and tasks
  board: (projectId: string, limit?: number) =>
    unwrap(
      http.GET('/api/projects/{id}/board', {
        params: { path: { id: projectId }, query: limit === undefined ? {} : { limit } },
      }),
    ),
  /** The column page after `after` (a column's `next`). */
  columnPage: (projectId: string, status: TaskStatus, after: Cursor, limit: number) =>
    unwrap(
      http.GET('/api/projects/{id}/tasks', {
        params: {
          path: { id: projectId },
          query: { status, after_position: after.position, after_id: after.id, limit },
        },
      }),
    ),
  createTask: (projectId: string, body: CreateTask) =>
    unwrap(http.POST('/api/projects/{id}/tasks', { params: { path: { id: projectId } }, body })),
  getTask: (id: string) => unwrap(http.GET('/api/tasks/{id}', byId(id))),
  updateTask: (id: string, body: UpdateTask) => unwrap(http.PATCH('/api/tasks/{id}', { ...byId(id), body })),
  deleteTask: (id: string) => unwrap(http.DELETE('/api/tasks/{id}', byId(id))),

  // Runs
  listRuns: (taskId: string) => unwrap(http.GET('/api/tasks/{id}/runs', byId(taskId))),
  startRun: (taskId: string) => unwrap(http.POST('/api/tasks/{id}/runs', byId(taskId))),
  followUp: (taskId: string, message: string) =>
    unwrap(http.POST('/api/tasks/{id}/follow-ups', { ...byId(taskId), body: { message } })),
  getRun: (id: string) => unwrap(http.GET('/api/runs/{id}', byId(id))),
  stopRun: (id: string) => unwrap(http.POST('/api/runs/{id}/stop', byId(id))),
  logPage: (id: string, after: number, limit: number) =>
    unwrap(http.GET('/api/runs/{id}/logs', { params: { path: { id }, query: { after, limit } } })),
  diff: (id: string) => unwrap(http.GET('/api/runs/{id}/diff', byId(id))),
  merge: (id: string) => unwrap(http.POST('/api/runs/{id}/merge', byId(id))),
  push: (id: string, token?: string) =>
    unwrap(http.POST('/api/runs/{id}/push', { ...byId(id), body: token ? { token } : {} })),
};

export type Api = typeof api;

/** The WebSocket URL for an API path on this origin. */
export function socketUrl(path: string, location: Pick<Location, 'protocol' | 'host'> = globalThis.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

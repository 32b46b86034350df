/**
 * Typed calls to every endpoint the UI uses, on `openapi-fetch` over the generated `paths`:
 * paths, parameters, bodies and answers are checked against the OpenAPI document at compile
 * time. Every call resolves with the answer's data or rejects with an `ApiError`.
 */
import createClient from 'openapi-fetch';
import { auth } from './auth.ts';
import { errorFromBody } from './client.ts';
import type { paths } from './schema.ts';
import type {
  AddMember,
  CloneProject,
  CreateInvite,
  CreateUser,
  UpdateUser,
  CreateProject,
  CreateTask,
  Cursor,
  QueueSettings,
  SecuritySettings,
  TaskStatus,
  UpdateTask,
} from './types.ts';

const http = createClient<paths>({
  // Absolute, so the same code runs under Node's fetch in tests; same-origin in the browser.
  baseUrl: globalThis.location.origin,
  // Through the session (bearer token, one refresh and retry on 401); the global fetch is
  // looked up per call, so tests can stub it after this module loaded.
  fetch: (request) => auth.fetch(request),
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
  /** A column's first `limit` cards (at most 500). */
  column: (projectId: string, status: TaskStatus, limit: number) =>
    unwrap(http.GET('/api/projects/{id}/tasks', { params: { path: { id: projectId }, query: { status, limit } } })),
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
  /** A waiting run (credentials, usage limit) tried again now; 409 when it is not waiting. */
  retryRun: (id: string) => unwrap(http.POST('/api/runs/{id}/retry', byId(id))),
  logPage: (id: string, after: number, limit: number) =>
    unwrap(http.GET('/api/runs/{id}/logs', { params: { path: { id }, query: { after, limit } } })),
  diff: (id: string) => unwrap(http.GET('/api/runs/{id}/diff', byId(id))),
  merge: (id: string) => unwrap(http.POST('/api/runs/{id}/merge', byId(id))),
  push: (id: string, token?: string) =>
    unwrap(http.POST('/api/runs/{id}/push', { ...byId(id), body: token ? { token } : {} })),

  // The agents' CLIs: installed where, which version, which credential
  agents: () => unwrap(http.GET('/api/agents')),

  // The run queue
  queue: () => unwrap(http.GET('/api/queue')),
  setQueueSettings: (body: QueueSettings) => unwrap(http.PUT('/api/queue/settings', { body })),

  // Who may do what: the security setting (admins)
  securitySettings: () => unwrap(http.GET('/api/settings/security')),
  setSecuritySettings: (body: SecuritySettings) => unwrap(http.PUT('/api/settings/security', { body })),

  // Project members (team mode)
  members: (projectId: string) => unwrap(http.GET('/api/projects/{id}/members', byId(projectId))),
  addMember: (projectId: string, body: AddMember) =>
    unwrap(http.POST('/api/projects/{id}/members', { ...byId(projectId), body })),
  removeMember: (projectId: string, userId: string) =>
    unwrap(http.DELETE('/api/projects/{id}/members/{user_id}', { params: { path: { id: projectId, user_id: userId } } })),

  // Administration (team mode, admins)
  users: () => unwrap(http.GET('/api/admin/users')),
  createUser: (body: CreateUser) => unwrap(http.POST('/api/admin/users', { body })),
  updateUser: (id: string, body: UpdateUser) => unwrap(http.PATCH('/api/admin/users/{id}', { ...byId(id), body })),
  deleteUser: (id: string) => unwrap(http.DELETE('/api/admin/users/{id}', byId(id))),
  invites: () => unwrap(http.GET('/api/admin/invites')),
  createInvite: (body: CreateInvite) => unwrap(http.POST('/api/admin/invites', { body })),
  revokeInvite: (id: string) => unwrap(http.DELETE('/api/admin/invites/{id}', byId(id))),
  audit: (before?: string, limit?: number) =>
    unwrap(
      http.GET('/api/admin/audit', {
        params: { query: { ...(before ? { before } : {}), ...(limit === undefined ? {} : { limit }) } },
      }),
    ),
};

export type Api = typeof api;

/**
 * The WebSocket URL for an API path on this origin. In team mode it carries the current access
 * token (`?access_token=`): sockets ask for their URL at every (re)connect, so a reconnect uses
 * the fresh token.
 */
export function socketUrl(
  path: string,
  location: Pick<Location, 'protocol' | 'host'> = globalThis.location,
  token: string | null = auth.accessToken,
): string {
  const withToken = token ? `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}` : path;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${withToken}`;
}

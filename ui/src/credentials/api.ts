/**
 * Typed calls to the credentials endpoints (tag "credentials" in openapi.json), on the same
 * `openapi-fetch` client shape as `api/endpoints.ts`. Values go to the server only; every answer
 * carries masked values, never a secret.
 */
import createClient from 'openapi-fetch';
import { auth } from '../api/auth.ts';
import { errorFromBody } from '../api/client.ts';
import type { components, paths } from '../api/schema.ts';

export type CredentialView = components['schemas']['CredentialView'];
export type Effective = components['schemas']['Effective'];
export type CredentialNames = components['schemas']['CredentialNames'];
export type SetCredential = components['schemas']['SetCredential'];
export type Tier = components['schemas']['Tier'];

const http = createClient<paths>({
  baseUrl: globalThis.location.origin,
  // Through the session, like every other call: in team mode the access token rides along.
  fetch: (request) => auth.fetch(request),
  headers: { Accept: 'application/json' },
});

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw errorFromBody(response.status, response.statusText, error);
  return data as T;
}

/** One tier's list, set and delete, so the same section serves every tier. */
export interface TierApi {
  tier: Tier;
  list: () => Promise<CredentialView[]>;
  set: (key: string, body: SetCredential) => Promise<CredentialView>;
  remove: (key: string) => Promise<void>;
}

const byKey = (key: string) => ({ params: { path: { key } } });

export const globalTier: TierApi = {
  tier: 'global',
  list: () => unwrap(http.GET('/api/credentials/global')),
  set: (key, body) => unwrap(http.PUT('/api/credentials/global/{key}', { ...byKey(key), body })),
  remove: async (key) => {
    await unwrap(http.DELETE('/api/credentials/global/{key}', byKey(key)));
  },
};

export const userTier: TierApi = {
  tier: 'user',
  list: () => unwrap(http.GET('/api/credentials/user')),
  set: (key, body) => unwrap(http.PUT('/api/credentials/user/{key}', { ...byKey(key), body })),
  remove: async (key) => {
    await unwrap(http.DELETE('/api/credentials/user/{key}', byKey(key)));
  },
};

export function projectTier(id: string): TierApi {
  const at = (key: string) => ({ params: { path: { id, key } } });
  return {
    tier: 'project',
    list: () => unwrap(http.GET('/api/projects/{id}/credentials', { params: { path: { id } } })),
    set: (key, body) => unwrap(http.PUT('/api/projects/{id}/credentials/{key}', { ...at(key), body })),
    remove: async (key) => {
      await unwrap(http.DELETE('/api/projects/{id}/credentials/{key}', at(key)));
    },
  };
}

export const credentialsApi = {
  authMode: () => unwrap(http.GET('/api/auth/mode')),
  names: () => unwrap(http.GET('/api/credentials/names')),
  setAllowed: (allowed: string[]) => unwrap(http.PUT('/api/credentials/names', { body: { allowed } })),
  effective: (projectId: string) =>
    unwrap(http.GET('/api/projects/{id}/credentials/effective', { params: { path: { id: projectId } } })),
};

/** The key Claude Code signs in with; offered first. */
export const OAUTH_KEY = 'CLAUDE_CODE_OAUTH_TOKEN';

/** The names a value may be stored under: known keys (the OAuth token first), then allowed custom names. */
export function keyChoices(names: CredentialNames | null): { known: string[]; custom: string[] } {
  const known = [...(names?.known ?? [])].sort((a, b) => (a === OAUTH_KEY ? -1 : b === OAUTH_KEY ? 1 : a.localeCompare(b)));
  const custom = (names?.allowed ?? []).filter((name) => !known.includes(name));
  return { known, custom };
}

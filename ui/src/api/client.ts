/**
 * The one place the UI talks HTTP to the Taskyard server. Non-2xx answers
 * become an `ApiError` carrying the server's `{error, message, field?}` body,
 * so callers show `message` to people, branch on `code` and mark `field`.
 */
import type { ErrorBody } from './types.ts';

export type ApiErrorBody = ErrorBody;

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    /** HTTP status of the response. */
    readonly status: number,
    /** The server's `error` code, when the body had one. */
    readonly code: string | undefined,
    /** The request field at fault (422), when the server named one. */
    readonly field?: string,
  ) {
    super(message);
  }

  get isConflict(): boolean {
    return this.status === 409;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }
}

export type Fetch = typeof fetch;

export interface RequestOptions extends Omit<RequestInit, 'body'> {
  /** Sent as JSON when present. */
  json?: unknown;
  /** For tests; defaults to the global `fetch`. */
  fetch?: Fetch;
}

/**
 * Sends a request and returns the response when its status is 2xx; otherwise
 * throws an `ApiError`. Network failures reject as `fetch` does (TypeError).
 */
export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const { json, fetch: fetchImpl = fetch, headers, ...init } = options;
  const finalHeaders = new Headers(headers);
  finalHeaders.set('Accept', 'application/json');
  if (json !== undefined) finalHeaders.set('Content-Type', 'application/json');

  const response = await fetchImpl(path, {
    ...init,
    headers: finalHeaders,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  if (!response.ok) throw await toApiError(response);
  return response;
}

/** `request` for endpoints that answer with JSON; 204 yields `undefined`. */
export async function requestJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** Builds the error for a non-2xx response whose body has not been read yet. */
export async function toApiError(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  return errorFromBody(response.status, response.statusText, body);
}

/**
 * The error for a status and an already parsed body. The server's `message`
 * is used when the body is the documented JSON shape; anything else (a
 * proxy's HTML page, an empty body) falls back to the status line.
 */
export function errorFromBody(status: number, statusText: string, body: unknown): ApiError {
  const fallback = `Request failed: ${status}${statusText ? ` ${statusText}` : ''}`;
  return new ApiError(field(body, 'message') ?? fallback, status, field(body, 'error'), field(body, 'field'));
}

function field(body: unknown, name: keyof ApiErrorBody): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value: unknown = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * What to tell a person about a failure: the server's message for API errors,
 * a plain sentence for a network failure, the message of anything else.
 */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'The server could not be reached. Is Taskyard still running?';
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong.';
}

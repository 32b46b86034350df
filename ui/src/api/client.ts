/**
 * The one place the UI talks HTTP to the Taskyard server. Non-2xx answers
 * become an `ApiError` carrying the server's `{error, message}` body, so
 * callers show `message` to people and branch on `code`.
 */

/** The JSON error body every API error response carries. */
export interface ApiErrorBody {
  /** Stable, machine-readable code (e.g. `not_found`). */
  error: string;
  /** Human-readable text, safe to show. */
  message: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    /** HTTP status of the response. */
    readonly status: number,
    /** The server's `error` code, when the body had one. */
    readonly code: string | undefined,
  ) {
    super(message);
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

/**
 * Builds the error for a non-2xx response. The server's `message` is used
 * when the body is the documented JSON shape; anything else (a proxy's HTML
 * page, an empty body) falls back to the status line.
 */
export async function toApiError(response: Response): Promise<ApiError> {
  const fallback = `Request failed: ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return new ApiError(fallback, response.status, undefined);
  }
  const message = field(body, 'message');
  return new ApiError(message ?? fallback, response.status, field(body, 'error'));
}

function field(body: unknown, name: keyof ApiErrorBody): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value: unknown = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

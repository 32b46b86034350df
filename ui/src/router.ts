/**
 * Hash routing: `#/` projects, `#/projects/<id>` a board, `#/projects/<id>/tasks/<id>` a task.
 * The hash keeps every view addressable (reload, back, new tab) with no server routes; the
 * server serves index.html for other paths anyway.
 */
import { useEffect, useState } from 'react';

export type Route =
  | { name: 'projects' }
  | { name: 'board'; projectId: string }
  | { name: 'task'; projectId: string; taskId: string }
  | { name: 'login' }
  | { name: 'register'; invite: string | null }
  | { name: 'admin' }
  | { name: 'credentials' }
  | { name: 'settings' }
  | { name: 'not_found'; path: string };

export function parseRoute(hash: string, search = ''): Route {
  const [rawPath = '', query = ''] = hash.replace(/^#/, '').split('?', 2);
  const path = rawPath.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/projects') return { name: 'projects' };
  if (path === '/login') return { name: 'login' };
  if (path === '/admin') return { name: 'admin' };
  if (path === '/settings/credentials') return { name: 'credentials' };
  if (path === '/settings') return { name: 'settings' };
  if (path === '/register') {
    // `#/register?invite=CODE`, or a server link `/register?invite=CODE` (the query before the hash).
    const invite = new URLSearchParams(query).get('invite') ?? new URLSearchParams(search).get('invite');
    return { name: 'register', invite: invite === '' ? null : invite };
  }
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  if (parts[0] === 'projects' && parts[1]) {
    if (parts.length === 2) return { name: 'board', projectId: parts[1] };
    if (parts[2] === 'tasks' && parts[3] && parts.length === 4) {
      return { name: 'task', projectId: parts[1], taskId: parts[3] };
    }
  }
  return { name: 'not_found', path };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'projects':
      return '#/';
    case 'board':
      return `#/projects/${encodeURIComponent(route.projectId)}`;
    case 'task':
      return `#/projects/${encodeURIComponent(route.projectId)}/tasks/${encodeURIComponent(route.taskId)}`;
    case 'login':
      return '#/login';
    case 'register':
      return route.invite ? `#/register?invite=${encodeURIComponent(route.invite)}` : '#/register';
    case 'admin':
      return '#/admin';
    case 'credentials':
      return '#/settings/credentials';
    case 'settings':
      return '#/settings';
    case 'not_found':
      return `#${route.path}`;
  }
}

/** The route of the current address: a server link `/register?invite=…` counts as the register page. */
export function currentRoute(location: Pick<Location, 'hash' | 'search' | 'pathname'> = window.location): Route {
  if ((!location.hash || location.hash === '#/' || location.hash === '#') && /\/register\/?$/.test(location.pathname)) {
    return parseRoute('#/register', location.search);
  }
  return parseRoute(location.hash, location.search);
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => currentRoute());
  useEffect(() => {
    const onChange = () => {
      setRoute(currentRoute());
    };
    window.addEventListener('hashchange', onChange);
    return () => {
      window.removeEventListener('hashchange', onChange);
    };
  }, []);
  return route;
}

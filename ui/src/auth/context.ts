/** The session for components: `useAuth()` is the `Auth`, `useAuthState()` its current state. */
import { createContext, use, useSyncExternalStore } from 'react';
import { auth as defaultAuth, type Auth, type AuthState, type User } from '../api/auth.ts';

export const AuthContext = createContext<Auth>(defaultAuth);

export function useAuth(): Auth {
  return use(AuthContext);
}

export function useAuthState(): AuthState {
  const auth = useAuth();
  return useSyncExternalStore(auth.subscribe, auth.getState);
}

/** The signed-in user (team mode), or null (local mode, signed out). */
export function useCurrentUser(): User | null {
  const state = useAuthState();
  return state.status === 'signed_in' ? state.user : null;
}

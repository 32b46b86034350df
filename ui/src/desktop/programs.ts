/**
 * The agent programs of this computer, chosen in the desktop app (its `choose_program` and
 * `set_program` commands): a path per agent CLI instead of its name looked up in the agents'
 * `PATH`. Only this computer's board may call them; a team server's page never can.
 */
import { tauriInvoke, type DesktopInvoke } from './bridge.ts';

export interface ProgramControls {
  /** Opens the native file picker; the program kept, or null when the picker was cancelled. */
  choose(agent: string): Promise<string | null>;
  /** Keeps `path` (checked by the app) or, with null, goes back to the `PATH` lookup. */
  set(agent: string, path: string | null): Promise<string | null>;
}

/** The app's refusal as it says it (a string from a Tauri command, or an error). */
export function describeRefusal(failure: unknown): string {
  if (typeof failure === 'string') return failure;
  if (failure instanceof Error) return failure.message;
  return 'the desktop app did not answer';
}

const answer = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function programControls(invoke: DesktopInvoke): ProgramControls {
  return {
    choose: async (agent) => answer(await invoke('choose_program', { agent })),
    set: async (agent, path) => answer(await invoke('set_program', { agent, path })),
  };
}

/** The controls when this page is shown in the desktop app, else null (a browser). */
export function desktopPrograms(scope: object = globalThis): ProgramControls | null {
  const invoke = tauriInvoke(scope);
  return invoke ? programControls(invoke) : null;
}

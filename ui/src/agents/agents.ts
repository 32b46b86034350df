/** What the agents section says of an agent CLI's status. */
import type { CliStatus } from '../api/types.ts';

export type State = 'ready' | 'problem' | 'missing';

export function cliState(cli: CliStatus): State {
  if (!cli.found) return 'missing';
  return cli.problem ? 'problem' : 'ready';
}

export const STATE_TEXT: Record<State, string> = { ready: 'Ready', problem: 'Cannot run', missing: 'Not found' };

/** A program given by its path (not a name looked up in PATH). */
export const isChosenPath = (program: string) => program.includes('/');

export function credentialText(cli: CliStatus): string {
  if (!cli.credential) return `none set (it reads ${cli.credential_variables.join(', ')})`;
  const { variable, source, preview, kind } = cli.credential;
  return `${kind} in ${variable}, from ${source === 'settings' ? 'its settings' : `the ${source} credentials`} (${preview})`;
}

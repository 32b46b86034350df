/**
 * The task form's values and the request they make: the `command` agent takes a shell line;
 * other agents take their settings as JSON.
 */
import type { CreateTask, Task } from '../api/types.ts';

export const KNOWN_AGENTS = ['command', 'claude'] as const;

export interface TaskFormValues {
  title: string;
  description: string;
  agent: string;
  /** The shell line, for the `command` agent. */
  command: string;
  /** Settings as JSON text, for other agents. */
  settings: string;
}

export function initialValues(task?: Task): TaskFormValues {
  if (!task) return { title: '', description: '', agent: 'command', command: '', settings: '{}' };
  const command = task.agent_config['command'];
  return {
    title: task.title,
    description: task.description,
    agent: task.agent,
    command: typeof command === 'string' ? command : '',
    settings: JSON.stringify(task.agent_config, null, 2),
  };
}

/** The request body for the values, or the field that is wrong and why. */
export function toRequest(values: TaskFormValues): { body: CreateTask } | { field: keyof TaskFormValues; message: string } {
  const title = values.title.trim();
  if (!title) return { field: 'title', message: 'A task needs a title.' };
  const agent = values.agent.trim() || 'command';
  let config: Record<string, unknown>;
  if (agent === 'command') {
    config = values.command.trim() ? { command: values.command } : {};
  } else {
    try {
      const parsed: unknown = JSON.parse(values.settings || '{}');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      config = parsed as Record<string, unknown>;
    } catch {
      return { field: 'settings', message: 'Settings must be a JSON object, e.g. {"model": "sonnet"}.' };
    }
  }
  return { body: { title, description: values.description, agent, agent_config: config } };
}

/** Which form field a server error's `field` belongs to. */
export function formField(field: string | undefined, agent: string): keyof TaskFormValues | undefined {
  if (field === 'title' || field === 'description' || field === 'agent') return field;
  if (field === 'agent_config' || field === 'command') return agent === 'command' ? 'command' : 'settings';
  return undefined;
}

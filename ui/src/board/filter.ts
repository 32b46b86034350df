/** The board's filter: a card matches when its title, description or slug contains the text. */
import type { Task } from '../api/types.ts';

export function matches(task: Task, filter: string): boolean {
  const needle = filter.trim().toLowerCase();
  if (!needle) return true;
  return [task.title, task.description, task.slug].some((text) => text.toLowerCase().includes(needle));
}

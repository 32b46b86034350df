/**
 * The queue settings as a person edits them: counts as they are, waits in minutes or hours.
 * What is sent is always the server's shape (`QueueSettings`, waits in seconds). Only the
 * form's own checks live here (a number where a number belongs); the server judges the ranges
 * and its 422 message is shown as it says it.
 */
import type { QueueSettings } from '../api/types.ts';

/** The server's defaults (see `QueueSettings` in the API document). */
export const DEFAULT_SETTINGS: QueueSettings = {
  max_concurrent: 0,
  max_per_user: 0,
  max_per_project: 0,
  max_attempts: 20,
  auth_retry_seconds: 300,
  quota_retry_seconds: 3600,
  quota_backoff: 1.5,
  quota_max_seconds: 14_400,
  worktree_idle_hours: 168,
};

export interface QueueForm {
  max_concurrent: string;
  max_per_user: string;
  max_per_project: string;
  max_attempts: string;
  /** Minutes. */
  auth_retry_minutes: string;
  /** Minutes. */
  quota_retry_minutes: string;
  quota_backoff: string;
  /** Hours. */
  quota_max_hours: string;
  worktree_idle_hours: string;
}

export type QueueField = keyof QueueForm;
export type QueueFormErrors = Partial<Record<QueueField, string>>;

/** At most two decimals, without trailing zeros: 300 s → "5", 90 s → "1.5". */
function decimal(value: number): string {
  return String(Math.round(value * 100) / 100);
}

export function formFromSettings(settings: QueueSettings): QueueForm {
  return {
    max_concurrent: String(settings.max_concurrent),
    max_per_user: String(settings.max_per_user),
    max_per_project: String(settings.max_per_project),
    max_attempts: String(settings.max_attempts),
    auth_retry_minutes: decimal(settings.auth_retry_seconds / 60),
    quota_retry_minutes: decimal(settings.quota_retry_seconds / 60),
    quota_backoff: decimal(settings.quota_backoff),
    quota_max_hours: decimal(settings.quota_max_seconds / 3600),
    worktree_idle_hours: String(settings.worktree_idle_hours),
  };
}

const INT32_MAX = 2_147_483_647;

function parse(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

/** The settings to send, or what is wrong with the form, field by field. */
export function settingsFromForm(form: QueueForm): { settings: QueueSettings } | { errors: QueueFormErrors } {
  const errors: QueueFormErrors = {};

  const whole = (field: QueueField, min: number): number => {
    const value = parse(form[field]);
    if (value === null || !Number.isInteger(value) || value < min || value > INT32_MAX) {
      errors[field] = min === 0 ? 'A whole number, 0 or more.' : `A whole number, ${min} or more.`;
      return 0;
    }
    return value;
  };
  const seconds = (field: QueueField, unit: number): number => {
    const value = parse(form[field]);
    if (value === null || value <= 0) {
      errors[field] = 'A number greater than 0.';
      return 0;
    }
    return Math.round(value * unit);
  };

  const settings: QueueSettings = {
    max_concurrent: whole('max_concurrent', 0),
    max_per_user: whole('max_per_user', 0),
    max_per_project: whole('max_per_project', 0),
    max_attempts: whole('max_attempts', 1),
    auth_retry_seconds: seconds('auth_retry_minutes', 60),
    quota_retry_seconds: seconds('quota_retry_minutes', 60),
    quota_backoff: 0,
    quota_max_seconds: seconds('quota_max_hours', 3600),
    worktree_idle_hours: whole('worktree_idle_hours', 0),
  };
  const backoff = parse(form.quota_backoff);
  if (backoff === null || backoff <= 0) errors.quota_backoff = 'A number such as 1.5.';
  else settings.quota_backoff = backoff;

  return Object.keys(errors).length > 0 ? { errors } : { settings };
}

/** "5 min", "1 h 30 min", "2 d": a wait in seconds, for the summary next to the form. */
export function describeSeconds(total: number): string {
  if (total < 60) return `${total} s`;
  const minutes = Math.round(total / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** The settings' names in the server's messages, as the form labels them. */
const NAMES: Record<keyof QueueSettings, string> = {
  max_concurrent: 'runs at once on each server',
  max_per_user: 'runs at once per user',
  max_per_project: 'runs at once per project',
  max_attempts: 'attempts per run',
  auth_retry_seconds: 'retry without credentials',
  quota_retry_seconds: 'first wait after a usage limit',
  quota_backoff: 'the usage-limit wait factor',
  quota_max_seconds: 'longest usage-limit wait',
  worktree_idle_hours: 'keeping idle worktrees',
};

/**
 * The server's message about refused settings, with the settings' names as the form shows
 * them: "quota_max_seconds must not be below quota_retry_seconds" → "longest usage-limit wait
 * (quota_max_seconds) must not be below …".
 */
export function explainRefusal(message: string): string {
  return message.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (name) =>
    name in NAMES ? `${NAMES[name as keyof QueueSettings]} (${name})` : name,
  );
}

/** "0 B", "12.3 MB", "4.1 GB": a size on disk. */
export function describeBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit] ?? ''}`;
}

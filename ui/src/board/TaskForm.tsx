/**
 * Create or edit a task: title, description (the agent's prompt) and the agent's settings.
 * The `command` agent takes a shell line; other agents take their settings as JSON. Errors
 * from the server are shown at the field they name.
 */
import { useId, useState, type SubmitEvent } from 'react';
import { ApiError, describeError } from '../api/client.ts';
import type { CreateTask, Task } from '../api/types.ts';
import { KNOWN_AGENTS, formField, initialValues, toRequest, type TaskFormValues } from './taskForm.ts';
import { Dialog } from '../widgets/Dialog.tsx';
import { Field } from '../widgets/Field.tsx';

export function TaskForm({
  task,
  onSubmit,
  onClose,
}: {
  /** The task to edit; a new task when absent. */
  task?: Task;
  onSubmit: (body: CreateTask) => Promise<unknown>;
  onClose: () => void;
}) {
  const [values, setValues] = useState(() => initialValues(task));
  const [errors, setErrors] = useState<Partial<Record<keyof TaskFormValues, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const set = (field: keyof TaskFormValues) => (event: { target: { value: string } }) => {
    setValues((v) => ({ ...v, [field]: event.target.value }));
    setErrors((e) => ({ ...e, [field]: undefined }));
  };

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const request = toRequest(values);
    if ('field' in request) {
      setErrors({ [request.field]: request.message });
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      await onSubmit(request.body);
      onClose();
    } catch (error) {
      const field = error instanceof ApiError ? formField(error.field, values.agent) : undefined;
      if (field) setErrors({ [field]: describeError(error) });
      else setFormError(describeError(error));
      setBusy(false);
    }
  };

  const isCommand = (values.agent.trim() || 'command') === 'command';

  return (
    <Dialog title={task ? 'Edit task' : 'New task'} onClose={onClose} wide>
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <Field id={`${id}-title`} label="Title" error={errors.title}>
          <input
            id={`${id}-title`}
            value={values.title}
            onChange={set('title')}
            maxLength={200}
            required
            data-autofocus
            aria-invalid={errors.title ? true : undefined}
            aria-describedby={errors.title ? `${id}-title-error` : undefined}
          />
        </Field>
        <Field
          id={`${id}-description`}
          label="Description"
          hint="What the agent is asked to do: this is its prompt."
          error={errors.description}
        >
          <textarea
            id={`${id}-description`}
            value={values.description}
            onChange={set('description')}
            rows={5}
            aria-invalid={errors.description ? true : undefined}
          />
        </Field>
        <div className="form-row">
          <Field id={`${id}-agent`} label="Agent" error={errors.agent}>
            <input
              id={`${id}-agent`}
              value={values.agent}
              onChange={set('agent')}
              list={`${id}-agents`}
              aria-invalid={errors.agent ? true : undefined}
            />
            <datalist id={`${id}-agents`}>
              {KNOWN_AGENTS.map((name) => (
                <option key={name} value={name} />
              ))}
            </datalist>
          </Field>
        </div>
        {isCommand ? (
          <Field
            id={`${id}-command`}
            label="Agent command"
            hint="A shell line run in the task's worktree. The prompt is in $TASKYARD_PROMPT, or write {prompt} to have it inserted safely."
            error={errors.command}
          >
            <textarea
              id={`${id}-command`}
              className="mono"
              value={values.command}
              onChange={set('command')}
              rows={3}
              spellCheck={false}
              placeholder='e.g. my-agent --prompt {prompt}'
              aria-invalid={errors.command ? true : undefined}
            />
          </Field>
        ) : (
          <Field id={`${id}-settings`} label="Agent settings (JSON)" error={errors.settings}>
            <textarea
              id={`${id}-settings`}
              className="mono"
              value={values.settings}
              onChange={set('settings')}
              rows={5}
              spellCheck={false}
              aria-invalid={errors.settings ? true : undefined}
            />
          </Field>
        )}
        {formError && (
          <p className="inline-error" role="alert">
            {formError}
          </p>
        )}
        <footer className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? 'Saving…' : task ? 'Save' : 'Create task'}
          </button>
        </footer>
      </form>
    </Dialog>
  );
}

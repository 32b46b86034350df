import { describe, expect, it } from 'vitest';
import { task } from '../test/fixtures.ts';
import { formField, initialValues, toRequest } from './taskForm.ts';

describe('task form', () => {
  it('sends the command agent its shell line', () => {
    const values = { ...initialValues(), title: '  Fix it ', command: 'make fix' };
    expect(toRequest(values)).toEqual({
      body: { title: 'Fix it', description: '', agent: 'command', agent_config: { command: 'make fix' } },
    });
  });

  it('lets a command stay empty while drafting', () => {
    expect(toRequest({ ...initialValues(), title: 'Draft' })).toMatchObject({ body: { agent_config: {} } });
  });

  it('needs a title', () => {
    expect(toRequest(initialValues())).toEqual({ field: 'title', message: 'A task needs a title.' });
  });

  it('takes other agents’ settings as a JSON object', () => {
    const values = { ...initialValues(), title: 'T', agent: 'claude', settings: '{"model": "sonnet"}' };
    expect(toRequest(values)).toMatchObject({ body: { agent: 'claude', agent_config: { model: 'sonnet' } } });
    expect(toRequest({ ...values, settings: '[1]' })).toMatchObject({ field: 'settings' });
    expect(toRequest({ ...values, settings: '{' })).toMatchObject({ field: 'settings' });
  });

  it('starts from a task when editing', () => {
    expect(initialValues(task('t', { title: 'Edit me', agent_config: { command: 'ls' } }))).toMatchObject({
      title: 'Edit me',
      agent: 'command',
      command: 'ls',
    });
  });

  it("maps the server's field names to the form's", () => {
    expect(formField('agent_config', 'command')).toBe('command');
    expect(formField('agent_config', 'claude')).toBe('settings');
    expect(formField('title', 'command')).toBe('title');
    expect(formField('position', 'command')).toBeUndefined();
  });
});

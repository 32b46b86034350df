import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { AgentStatus } from '../api/types.ts';
import { describeRefusal, desktopPrograms, programControls } from '../desktop/programs.ts';
import { fakeServer } from '../test/fakes.ts';
import { renderPage } from '../test/render.tsx';
import { AgentsSection } from './AgentsSection.tsx';
import { credentialText } from './agents.ts';

const claude = (cli: Partial<NonNullable<AgentStatus['cli']>>): AgentStatus => ({
  name: 'claude',
  display_name: 'Claude Code',
  aliases: [],
  cli: {
    program: 'claude',
    package: '@anthropic-ai/claude-code',
    found: true,
    path: '/usr/local/bin/claude',
    version: '2.0.1 (Claude Code)',
    problem: null,
    credential: { variable: 'CLAUDE_CODE_OAUTH_TOKEN', kind: 'subscription token', source: 'global', preview: 'sk-ant-oat01-…TEST' },
    credential_variables: ['CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_API_KEY'],
    ...cli,
  },
});
const CUSTOM: AgentStatus = { name: 'custom', display_name: 'Custom command', aliases: ['command'], cli: null };

function item(name: string) {
  return screen.getByRole('listitem', { name });
}

describe('AgentsSection', () => {
  it('shows where each CLI was found, its version and its credential', async () => {
    fakeServer().on('GET /api/agents', [claude({}), CUSTOM]);
    renderPage(<AgentsSection />);
    const found = await screen.findByRole('listitem', { name: 'Claude Code' });
    expect(within(found).getByText('Ready')).toBeInTheDocument();
    expect(within(found).getByText('/usr/local/bin/claude')).toBeInTheDocument();
    expect(within(found).getByText('2.0.1 (Claude Code)')).toBeInTheDocument();
    expect(within(found).getByText('subscription token in CLAUDE_CODE_OAUTH_TOKEN, from the global credentials (sk-ant-oat01-…TEST)')).toBeInTheDocument();
    expect(within(item('Custom command')).getByText('Runs the command each task names.')).toBeInTheDocument();
    // In a browser there is nothing to choose: the programs are the server's.
    expect(screen.queryByLabelText('Program on this computer')).not.toBeInTheDocument();
  });

  it('says why a CLI cannot be used and how to install it', async () => {
    fakeServer().on('GET /api/agents', [
      claude({ found: false, path: null, version: null, problem: '`claude` was not found on the agents\u2019 PATH', credential: null }),
    ]);
    renderPage(<AgentsSection />);
    const missing = await screen.findByRole('listitem', { name: 'Claude Code' });
    expect(within(missing).getByText('Not found')).toBeInTheDocument();
    expect(within(missing).getByText('`claude` was not found on the agents’ PATH')).toBeInTheDocument();
    expect(within(missing).getByText('npm install -g @anthropic-ai/claude-code')).toBeInTheDocument();
    expect(within(missing).getByText(/none set \(it reads CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY\)/)).toBeInTheDocument();
  });

  it('keeps a typed program, shows the app’s refusal as it says it, and reads the status again', async () => {
    const server = fakeServer().on('GET /api/agents', [claude({ found: false, path: null, version: null, problem: 'not found' })]);
    const set = vi.fn((_agent: string, path: string | null) =>
      path === '/home/me/notes.txt' ? Promise.reject(new Error('/home/me/notes.txt is not executable: make it so (chmod +x)')) : Promise.resolve(path),
    );
    const choose = vi.fn(() => Promise.resolve(null));
    renderPage(<AgentsSection programs={{ choose, set }} />);
    const user = userEvent.setup();
    const input = await screen.findByLabelText('Program on this computer');
    await user.type(input, '/home/me/notes.txt');
    await user.click(screen.getByRole('button', { name: 'Use this path' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Not changed: /home/me/notes.txt is not executable: make it so (chmod +x)');
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(input).toHaveValue('/home/me/notes.txt');

    server.on('GET /api/agents', [claude({ program: '/opt/claude/bin/claude', path: '/opt/claude/bin/claude' })]);
    await user.clear(input);
    await user.type(input, '/opt/claude/bin/claude');
    await user.click(screen.getByRole('button', { name: 'Use this path' }));
    expect(set).toHaveBeenLastCalledWith('claude', '/opt/claude/bin/claude');
    await waitFor(() => {
      expect(within(item('Claude Code')).getByText('Ready')).toBeInTheDocument();
    });
    expect(await screen.findByText('Claude Code runs /opt/claude/bin/claude from now on.')).toBeInTheDocument();

    // A chosen path can be given up for the PATH lookup again.
    await user.click(screen.getByRole('button', { name: 'Find it in PATH' }));
    expect(set).toHaveBeenLastCalledWith('claude', null);
  });

  it('a cancelled picker changes nothing', async () => {
    const server = fakeServer().on('GET /api/agents', [claude({})]);
    const choose = vi.fn(() => Promise.resolve(null));
    const set = vi.fn(() => Promise.resolve(null));
    renderPage(<AgentsSection programs={{ choose, set }} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Choose…' }));
    expect(choose).toHaveBeenCalledWith('claude');
    expect(set).not.toHaveBeenCalled();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(server.requests.filter((r) => r.path === '/api/agents')).toHaveLength(1);
  });
});

describe('desktop program controls', () => {
  it('call the app’s commands with the agent and the path', async () => {
    const invoke = vi.fn((command: string, args: object) =>
      Promise.resolve(command === 'set_program' ? (args as { path: unknown }).path : '/picked/claude'),
    );
    const controls = programControls(invoke);
    expect(await controls.set('claude', '/x/claude')).toBe('/x/claude');
    expect(await controls.set('claude', null)).toBeNull();
    expect(await controls.choose('codex')).toBe('/picked/claude');
    expect(invoke.mock.calls).toEqual([
      ['set_program', { agent: 'claude', path: '/x/claude' }],
      ['set_program', { agent: 'claude', path: null }],
      ['choose_program', { agent: 'codex' }],
    ]);
  });

  it('say the app’s refusal as it says it', () => {
    expect(describeRefusal('/x is a folder: choose the program in it')).toBe('/x is a folder: choose the program in it');
    expect(describeRefusal(new Error('gone'))).toBe('gone');
    expect(describeRefusal(undefined)).toBe('the desktop app did not answer');
  });

  it('exist only inside the desktop app', () => {
    expect(desktopPrograms({})).toBeNull();
    expect(desktopPrograms({ __TAURI_INTERNALS__: { invoke: () => Promise.resolve(null) } })).not.toBeNull();
  });

  it('name a credential from the agent’s own settings as such', () => {
    const cli = claude({ credential: { variable: 'ANTHROPIC_API_KEY', kind: 'API key', source: 'settings', preview: 'sk-ant-api03-…TEST' } }).cli;
    expect(cli && credentialText(cli)).toBe('API key in ANTHROPIC_API_KEY, from its settings (sk-ant-api03-…TEST)');
  });
});

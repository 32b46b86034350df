/**
 * Reading structured log entries. Agent adapters put what they know in `data` (Claude Code:
 * tool name and input, tool output, cost and usage); these helpers find it under the usual
 * names and fall back to the entry's text, so any adapter renders sensibly.
 */
import type { LogEntry } from '../api/types.ts';

type Data = Record<string, unknown>;

function dataOf(entry: LogEntry): Data {
  return typeof entry.data === 'object' && entry.data !== null && !Array.isArray(entry.data)
    ? (entry.data as Data)
    : {};
}

function pick(data: Data, ...names: string[]): unknown {
  for (const name of names) {
    if (data[name] !== undefined && data[name] !== null) return data[name];
  }
  return undefined;
}

function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return undefined;
  // Claude's tool results can be a list of content blocks: keep their text.
  if (Array.isArray(value)) {
    const parts = value.map((block) => {
      if (typeof block === 'string') return block;
      if (typeof block === 'object' && block !== null && typeof (block as Data)['text'] === 'string') {
        return (block as Data)['text'] as string;
      }
      return JSON.stringify(block);
    });
    return parts.join('\n');
  }
  return JSON.stringify(value, null, 2);
}

export interface ToolCall {
  name: string;
  /** A one-line description (e.g. the command a shell tool runs). */
  summary: string;
  /** The full input, pretty-printed, when there is one. */
  input: string | undefined;
}

export function toolCall(entry: LogEntry): ToolCall {
  const data = dataOf(entry);
  const tool = pick(data, 'name', 'tool', 'tool_name');
  const word = entry.text.split(/[\s:(]/, 1)[0] ?? '';
  const name = typeof tool === 'string' && tool ? tool : word !== '' ? word : 'tool';
  const input = pick(data, 'input', 'arguments', 'params');
  const summaryValue = pick(data, 'summary');
  let summary = typeof summaryValue === 'string' ? summaryValue : entry.text;
  // Adapters write "Bash: cargo test" or "Write src/main.rs"; the name is shown already.
  if (summary.startsWith(name)) summary = summary.slice(name.length).replace(/^[:\s]+/, '');
  if (!summary) summary = oneLine(input);
  return { name, summary, input: input === undefined || input === null ? undefined : asText(input) };
}

export interface ToolResult {
  text: string;
  isError: boolean;
  /** The tool that answered, when the adapter says. */
  tool: string | undefined;
  /** The adapter kept only the start of the output. */
  cut: boolean;
}

export function toolResult(entry: LogEntry): ToolResult {
  const data = dataOf(entry);
  // `text` may be a folded preview; the whole output (as far as kept) is in `data`.
  const content = asText(pick(data, 'content', 'output', 'result'));
  const tool = pick(data, 'tool_name', 'name');
  return {
    text: content ?? entry.text,
    isError: pick(data, 'is_error', 'error') === true,
    tool: typeof tool === 'string' && tool ? tool : undefined,
    cut: pick(data, 'content_truncated') === true,
  };
}

/** The agent's final answer in a `result` entry, when it gives one apart from the summary. */
export function resultText(entry: LogEntry): string | undefined {
  const text = pick(dataOf(entry), 'result');
  return typeof text === 'string' && text.trim() ? text : undefined;
}

/** The facts of a `result` entry (a finished agent turn), as short phrases. */
export function resultFacts(entry: LogEntry): string[] {
  const data = dataOf(entry);
  const facts: string[] = [];
  const subtype = pick(data, 'subtype');
  // Claude Code reports a failed turn (no login, an API error) as subtype `success` with
  // `is_error`: say what happened, not what the subtype claims.
  const failed = pick(data, 'is_error') === true;
  if (failed && (subtype === 'success' || subtype === undefined)) facts.push('error');
  else if (typeof subtype === 'string' && subtype) facts.push(subtype.replaceAll('_', ' '));
  const duration = asNumber(pick(data, 'duration_ms'));
  if (duration !== undefined) facts.push(formatDuration(duration));
  const turns = asNumber(pick(data, 'num_turns', 'turns'));
  if (turns !== undefined) facts.push(`${turns} ${turns === 1 ? 'turn' : 'turns'}`);
  const cost = asNumber(pick(data, 'total_cost_usd', 'cost_usd', 'cost'));
  if (cost !== undefined) facts.push(formatCost(cost));
  const usage = pick(data, 'usage');
  if (typeof usage === 'object' && usage !== null) {
    const u = usage as Data;
    const input = asNumber(u['input_tokens']);
    const output = asNumber(u['output_tokens']);
    if (input !== undefined || output !== undefined) {
      facts.push(`${formatCount(input ?? 0)} in · ${formatCount(output ?? 0)} out tokens`);
    }
    const cached = (asNumber(u['cache_read_input_tokens']) ?? 0) + (asNumber(u['cache_creation_input_tokens']) ?? 0);
    if (cached > 0) facts.push(`${formatCount(cached)} cached`);
  }
  return facts;
}

/** The facts of an `init` entry (session start). */
export function initFacts(entry: LogEntry): string[] {
  const data = dataOf(entry);
  const facts: string[] = [];
  const version = pick(data, 'version');
  if (typeof version === 'string' && version) facts.push(`v${version}`);
  const model = pick(data, 'model');
  if (typeof model === 'string') facts.push(model);
  const tools = pick(data, 'tools');
  if (Array.isArray(tools)) facts.push(`${tools.length} tools`);
  const mode = pick(data, 'permission_mode');
  if (typeof mode === 'string' && mode) facts.push(mode);
  const session = pick(data, 'session_id');
  if (typeof session === 'string') facts.push(`session ${session.slice(0, 8)}`);
  return facts;
}

/** Whether the entry belongs to a sub-agent's work (a tool call's own conversation). */
export function isNested(entry: LogEntry): boolean {
  return typeof pick(dataOf(entry), 'parent_tool_use_id') === 'string';
}

export function isErrorResult(entry: LogEntry): boolean {
  return pick(dataOf(entry), 'is_error') === true;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

export function formatCost(usd: number): string {
  return `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Whether a text is long enough to fold. */
export function isLong(text: string, maxLines = 12, maxChars = 1200): boolean {
  if (text.length > maxChars) return true;
  let lines = 1;
  for (const char of text) if (char === '\n' && ++lines > maxLines) return true;
  return false;
}

/** The first lines of a long text, for its folded view. */
export function preview(text: string, lines = 6): string {
  return text.split('\n', lines).join('\n').slice(0, 600);
}

function oneLine(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'object' && value !== null) {
    const data = value as Data;
    const main = pick(data, 'command', 'file_path', 'path', 'pattern', 'url', 'query', 'description');
    if (typeof main === 'string') return main.split('\n', 1)[0] ?? '';
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

/**
 * Unified diff parsing: one file's `patch` (as the server's diff endpoint sends it) into hunks
 * of numbered lines.
 */

export type LineType = 'add' | 'del' | 'context' | 'note';

export interface DiffLine {
  type: LineType;
  /** The line without its +, - or space prefix. */
  text: string;
  /** Line number in the old file (deleted and context lines). */
  oldNo?: number;
  /** Line number in the new file (added and context lines). */
  newNo?: number;
}

export interface Hunk {
  /** The `@@ -a,b +c,d @@ context` line. */
  header: string;
  oldStart: number;
  newStart: number;
  lines: DiffLine[];
}

export interface ParsedPatch {
  /** `diff --git`, `index`, `---`, `+++` and mode lines before the first hunk. */
  meta: string[];
  hunks: Hunk[];
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

export function parsePatch(patch: string): ParsedPatch {
  const meta: string[] = [];
  const hunks: Hunk[] = [];
  let hunk: Hunk | undefined;
  let oldNo = 0;
  let newNo = 0;
  const lines = patch.split('\n');
  // A trailing newline ends the last line rather than starting an empty one.
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const match = HUNK.exec(line);
    if (match) {
      oldNo = Number(match[1]);
      newNo = Number(match[2]);
      hunk = { header: line, oldStart: oldNo, newStart: newNo, lines: [] };
      hunks.push(hunk);
      continue;
    }
    if (!hunk) {
      meta.push(line);
      continue;
    }
    const sign = line[0];
    const text = line.slice(1);
    if (sign === '+') hunk.lines.push({ type: 'add', text, newNo: newNo++ });
    else if (sign === '-') hunk.lines.push({ type: 'del', text, oldNo: oldNo++ });
    else if (sign === '\\') hunk.lines.push({ type: 'note', text: line.slice(2) });
    else hunk.lines.push({ type: 'context', text, oldNo: oldNo++, newNo: newNo++ });
  }
  return { meta, hunks };
}

/** Added and removed lines of a patch (for files whose counts the server did not give). */
export function countChanges(parsed: ParsedPatch): { insertions: number; deletions: number } {
  let insertions = 0;
  let deletions = 0;
  for (const hunk of parsed.hunks) {
    for (const line of hunk.lines) {
      if (line.type === 'add') insertions++;
      else if (line.type === 'del') deletions++;
    }
  }
  return { insertions, deletions };
}

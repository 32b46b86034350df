import { describe, expect, it } from 'vitest';
import { countChanges, parsePatch } from './parse.ts';

const PATCH = `diff --git a/src/a.ts b/src/a.ts
index 1111111..2222222 100644
--- a/src/a.ts
+++ b/src/a.ts
@@ -1,4 +1,5 @@ export function a() {
 const a = 1;
-const b = 2;
+const b = 3;
+const c = 4;
 const d = 5;
 const e = 6;
@@ -10,2 +11,2 @@
-old
+new
\\ No newline at end of file
`;

describe('parsePatch', () => {
  it('splits meta lines and numbered hunks', () => {
    const parsed = parsePatch(PATCH);
    expect(parsed.meta).toHaveLength(4);
    expect(parsed.hunks).toHaveLength(2);
    const [first, second] = parsed.hunks;
    expect(first?.header).toBe('@@ -1,4 +1,5 @@ export function a() {');
    expect(first?.lines.map((l) => [l.type, l.oldNo, l.newNo])).toEqual([
      ['context', 1, 1],
      ['del', 2, undefined],
      ['add', undefined, 2],
      ['add', undefined, 3],
      ['context', 3, 4],
      ['context', 4, 5],
    ]);
    expect(second?.lines.map((l) => [l.type, l.text])).toEqual([
      ['del', 'old'],
      ['add', 'new'],
      ['note', 'No newline at end of file'],
    ]);
    expect(second?.lines[0]?.oldNo).toBe(10);
    expect(second?.lines[1]?.newNo).toBe(11);
  });

  it('counts changes', () => {
    expect(countChanges(parsePatch(PATCH))).toEqual({ insertions: 3, deletions: 2 });
  });

  it('handles a new file and an empty patch', () => {
    const parsed = parsePatch('--- /dev/null\n+++ b/out.txt\n@@ -0,0 +1 @@\n+do it\n');
    expect(parsed.hunks[0]?.lines).toEqual([{ type: 'add', text: 'do it', newNo: 1 }]);
    expect(parsePatch('')).toEqual({ meta: [], hunks: [] });
  });

  it('keeps context lines that are empty', () => {
    const parsed = parsePatch('@@ -1,3 +1,3 @@\n a\n \n-b\n+c\n');
    expect(parsed.hunks[0]?.lines[1]).toEqual({ type: 'context', text: '', oldNo: 2, newNo: 2 });
  });
});

/** A line diff (longest common subsequence) for comparing two workflow versions. */

export type DiffLine =
  | { kind: "same"; text: string; left: number; right: number }
  | { kind: "removed"; text: string; left: number }
  | { kind: "added"; text: string; right: number };

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const n = a.length;
  const m = b.length;
  // Trim the common head and tail so the quadratic table covers only what changed.
  let head = 0;
  while (head < n && head < m && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < n - head && tail < m - head && a[n - 1 - tail] === b[m - 1 - tail]) tail++;
  const aa = a.slice(head, n - tail);
  const bb = b.slice(head, m - tail);
  const rows = aa.length + 1;
  const cols = bb.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = aa.length - 1; i >= 0; i--) {
    for (let j = bb.length - 1; j >= 0; j--) {
      table[i * cols + j] =
        aa[i] === bb[j]
          ? table[(i + 1) * cols + j + 1]! + 1
          : Math.max(table[(i + 1) * cols + j]!, table[i * cols + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  for (let k = 0; k < head; k++) out.push({ kind: "same", text: a[k]!, left: k + 1, right: k + 1 });
  let i = 0;
  let j = 0;
  while (i < aa.length || j < bb.length) {
    if (i < aa.length && j < bb.length && aa[i] === bb[j]) {
      out.push({ kind: "same", text: aa[i]!, left: head + i + 1, right: head + j + 1 });
      i++;
      j++;
    } else if (j < bb.length && (i >= aa.length || table[i * cols + j + 1]! > table[(i + 1) * cols + j]!)) {
      out.push({ kind: "added", text: bb[j]!, right: head + j + 1 });
      j++;
    } else {
      out.push({ kind: "removed", text: aa[i]!, left: head + i + 1 });
      i++;
    }
  }
  for (let k = 0; k < tail; k++) {
    out.push({ kind: "same", text: a[n - tail + k]!, left: n - tail + k + 1, right: m - tail + k + 1 });
  }
  return out;
}

// The memory of the app's processes: the app and everything under it (WebKit's web and network
// processes, the runs' agents), read from /proc.

import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** `pid` and every process below it. */
export function tree(pid) {
  const all = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
  const found = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!found.has(p) && found.has(parentOf(p))) {
        found.add(p);
        grew = true;
      }
    }
  }
  return [...found];
}

function kib(text, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * RSS and PSS (shared pages divided among their users, so libraries count once) of `pid`'s
 * tree, in MiB, with each process's name and RSS.
 */
export function memory(pid) {
  let rss = 0;
  let pss = 0;
  const each = [];
  for (const p of tree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const r = kib(status, 'VmRSS');
      rss += r;
      pss += kib(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'), 'Pss');
      each.push(`${/^Name:\s+(.*)$/m.exec(status)[1]} ${(r / 1024).toFixed(0)} MiB`);
    } catch {
      // gone meanwhile
    }
  }
  return { rss: rss / 1024, pss: pss / 1024, each };
}

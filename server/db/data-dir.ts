// The data folder holds password hashes, sealed secrets, the appliance key and the audit log: only the appliance's
// own user may read it. It is created 0700 with its files 0600, and an existing folder's modes are put right at start.
import fs from 'node:fs';
import path from 'node:path';

/** Creates the folder if needed and makes it and everything in it private to this user; returns what it changed. */
export function secureDataDir(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const changed: string[] = [];
  const walk = (p: string, depth: number) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want && (st.mode & 0o077) !== 0) {
      fs.chmodSync(p, want);
      changed.push(path.relative(dir, p) || '.');
    }
    // Deep trees (image caches, models) keep their own layout below the second level; their top is private already.
    if (st.isDirectory() && depth < 2) for (const name of fs.readdirSync(p)) walk(path.join(p, name), depth + 1);
  };
  walk(dir, 0);
  return changed;
}

/** Creates `file` empty and owner-only if it does not exist yet, so SQLite (and its -wal/-shm, which copy the mode) never makes it readable by others. */
export function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

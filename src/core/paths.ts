/** XDG base directories for rescue's data, config and state (STYLE.md rule 9). */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { UserError } from './errors.js'

function xdg(variable: string, fallback: string): string {
  const value = process.env[variable]
  // The XDG spec says relative paths are invalid and must be ignored.
  return value && path.isAbsolute(value) ? value : path.join(os.homedir(), fallback)
}

/** Where the gateway keeps its database when `--data` is not given. */
export function defaultDataDir(): string {
  return path.join(xdg('XDG_DATA_HOME', '.local/share'), 'rescue')
}

/** Where the technician's login (server, email, token fallback file) lives. */
export function configDir(): string {
  return path.join(xdg('XDG_CONFIG_HOME', '.config'), 'rescue')
}

/** Where the host's audit log lives. */
export function stateDir(): string {
  return path.join(xdg('XDG_STATE_HOME', '.local/state'), 'rescue')
}

/**
 * Where per-session files live (one-time keys, sockets): $XDG_RUNTIME_DIR/rescue, else a folder
 * of ours in the temp dir. Created 0700 and checked to be ours and private, since files in shared
 * temp folders get hijacked (tmate CVE-2021-44512).
 */
export function runtimeDir(): string {
  const base = process.env.XDG_RUNTIME_DIR
  const dir =
    base && path.isAbsolute(base)
      ? path.join(base, 'rescue')
      : path.join(os.tmpdir(), `rescue-${os.userInfo().uid}`)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stat = fs.lstatSync(dir)
  if (!stat.isDirectory() || stat.uid !== os.userInfo().uid || (stat.mode & 0o077) !== 0) {
    throw new UserError(
      'failure',
      `${dir} is not a private folder of yours (it must be a directory you own, mode 0700)`,
      `remove it, or set XDG_RUNTIME_DIR to a private folder`,
    )
  }
  return dir
}

/**
 * `mkdir -p` with `mode` for each folder it makes. Not `fs.mkdirSync(dir, { recursive: true })`:
 * on Node 20 that spins forever where a parent refuses new entries with ENOENT (`/proc/x`), and
 * `rescue server --data /proc/x` hung without a word. This fails with the system's error instead.
 */
export function makeDirectory(dir: string, mode: number): void {
  const missing: string[] = []
  let current = path.resolve(dir)
  while (!fs.existsSync(current)) {
    missing.unshift(current)
    const parent = path.dirname(current)
    if (parent === current) break
    current = parent
  }
  for (const folder of missing) {
    try {
      fs.mkdirSync(folder, { mode })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

/** XDG base directories for rescue's data, config and state (STYLE.md rule 9). */
import os from 'node:os'
import path from 'node:path'

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

/**
 * The environment of every process the technician starts on this computer (a shell, with or
 * without a terminal, and each command): an allow-list, never `rescue host`'s own environment
 * minus a few names. What `rescue host` was started with (RESCUE_LOG_KEY, RESCUE_AUTO_APPROVE,
 * RESCUE_TOKEN, RESCUE_PIN, a cloud key in the end user's shell, SSH_AUTH_SOCK) is the end user's
 * business; a variable added tomorrow is kept out without anyone remembering to list it.
 *
 * What passes is about what an OpenSSH login of the same user gets from sshd and PAM:
 * - who and where: HOME, USER, LOGNAME, SHELL, PATH, MAIL;
 * - how to show text and time: LANG, LANGUAGE, LC_*, TZ;
 * - the user's own folders for temporary and runtime files: TMPDIR, XDG_RUNTIME_DIR (pam_systemd
 *   sets it for an SSH login too; `systemctl --user` and similar tools need it);
 * - TERM, only with a terminal (the technician's pty request names it), as sshd does;
 * - on Windows, what programs need to start at all (SystemRoot, ComSpec, PATHEXT, the profile
 *   folders).
 * Left out on purpose, though the end user's session has them: DISPLAY, WAYLAND_DISPLAY and
 * DBUS_SESSION_BUS_ADDRESS (the desktop: screenshots and input are not part of a shell grant),
 * SSH_AUTH_SOCK and GPG_AGENT_INFO (the end user's keys: agent forwarding is refused too), and
 * everything else. The login shell (`-l`) then reads the user's profile, as over SSH.
 */
import os from 'node:os'

const POSIX_NAMES = [
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'PATH',
  'MAIL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'XDG_RUNTIME_DIR',
]
/** LC_ALL, LC_CTYPE, LC_MESSAGES, ...: nothing else that starts with LC_. */
const LOCALE_CATEGORY = /^LC_[A-Z]+$/

const WINDOWS_NAMES = [
  'SYSTEMROOT',
  'WINDIR',
  'SYSTEMDRIVE',
  'COMSPEC',
  'PATHEXT',
  'USERPROFILE',
  'USERNAME',
  'USERDOMAIN',
  'HOMEDRIVE',
  'HOMEPATH',
  'APPDATA',
  'LOCALAPPDATA',
  'PROGRAMDATA',
  'PROGRAMFILES',
  'PROGRAMFILES(X86)',
  'TEMP',
  'TMP',
]

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'

/**
 * The environment for a process started for the technician: the allowed variables of `from`
 * (this process's environment by default), with HOME, USER, LOGNAME, SHELL and PATH filled in
 * from the account when missing, and TERM set only when `term` is given (a pty request).
 */
export function technicianEnvironment(
  options: { term?: string; from?: NodeJS.ProcessEnv } = {},
): Record<string, string> {
  const { term, from = process.env } = options
  const windows = process.platform === 'win32'
  const allowed = (name: string) =>
    windows
      ? WINDOWS_NAMES.includes(name.toUpperCase()) || name.toUpperCase() === 'PATH'
      : POSIX_NAMES.includes(name) || LOCALE_CATEGORY.test(name)
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && allowed(name)) env[name] = value
  }
  if (!windows) {
    const account = os.userInfo()
    env.HOME ??= account.homedir
    env.USER ??= account.username
    env.LOGNAME ??= account.username
    env.SHELL ??= account.shell || '/bin/sh'
    env.PATH ??= DEFAULT_PATH
  }
  if (term) env.TERM = term
  return env
}

import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { technicianEnvironment } from './environment.js'

const hostEnvironment = {
  HOME: '/home/bob',
  USER: 'bob',
  LOGNAME: 'bob',
  SHELL: '/bin/zsh',
  PATH: '/usr/bin:/bin',
  LANG: 'fr_FR.UTF-8',
  LC_ALL: 'fr_FR.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  TZ: 'Europe/Paris',
  TMPDIR: '/tmp/bob',
  XDG_RUNTIME_DIR: '/run/user/1000',
  TERM: 'screen',
  RESCUE_LOG_KEY: 'c2VjcmV0',
  RESCUE_AUTO_APPROVE: 'shell,exec',
  RESCUE_TOKEN: 'rt_secret',
  RESCUE_PIN: '123456',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
  SSH_AUTH_SOCK: '/tmp/ssh-agent.sock',
  DISPLAY: ':0',
  DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
  LC_EVIL_OR_NOT: 'x',
  LCX: 'y',
  NODE_OPTIONS: '--require /tmp/evil.js',
  LD_PRELOAD: '/tmp/evil.so',
}

describe.skipIf(process.platform === 'win32')('technicianEnvironment', () => {
  it('passes only the allowed variables, and TERM only from a pty request', () => {
    expect(technicianEnvironment({ from: hostEnvironment, term: 'xterm-256color' })).toEqual({
      HOME: '/home/bob',
      USER: 'bob',
      LOGNAME: 'bob',
      SHELL: '/bin/zsh',
      PATH: '/usr/bin:/bin',
      LANG: 'fr_FR.UTF-8',
      LC_ALL: 'fr_FR.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'Europe/Paris',
      TMPDIR: '/tmp/bob',
      XDG_RUNTIME_DIR: '/run/user/1000',
      TERM: 'xterm-256color',
    })
  })

  it("gives a command without a terminal no TERM, not even rescue host's own", () => {
    expect(technicianEnvironment({ from: hostEnvironment }).TERM).toBeUndefined()
  })

  it('fills in who and where from the account when rescue host was started without them', () => {
    const account = os.userInfo()
    expect(technicianEnvironment({ from: { RESCUE_TOKEN: 'x' } })).toEqual({
      HOME: account.homedir,
      USER: account.username,
      LOGNAME: account.username,
      SHELL: account.shell || '/bin/sh',
      PATH: '/usr/local/bin:/usr/bin:/bin',
    })
  })

  it('reads this process environment by default, never passing RESCUE_* through', () => {
    const saved = process.env.RESCUE_LOG_KEY
    process.env.RESCUE_LOG_KEY = 'from-this-process'
    try {
      const env = technicianEnvironment()
      expect(Object.keys(env).filter((name) => name.startsWith('RESCUE_'))).toEqual([])
      expect(env.PATH).toBe(process.env.PATH)
    } finally {
      if (saved === undefined) delete process.env.RESCUE_LOG_KEY
      else process.env.RESCUE_LOG_KEY = saved
    }
  })
})

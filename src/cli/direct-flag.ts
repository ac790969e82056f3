/** `--direct` / `--no-direct`, shared by `host` and `connect` (see core/session/direct.ts). */
import { Flags } from '@oclif/core'
import type { DirectMode } from '../core/session/index.js'

export const directFlag = Flags.boolean({
  description:
    "--direct: try a direct TCP link to the other side (same network, same computer), so the session's bytes skip the gateway; it falls back to the gateway's relay on its own. --no-direct: only ever through the gateway. [default: direct only when the other side asks]",
  allowNo: true,
  env: 'RESCUE_DIRECT',
})

/** The flag's three states: asked for, refused, or left to the other side. */
export function directMode(flag: boolean | undefined): DirectMode {
  return flag === undefined ? 'allow' : flag ? 'ask' : 'refuse'
}

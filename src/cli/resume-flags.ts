/** The grace period a dropped link gets before the session ends, shared by `host`, `connect` and `server`. */
import { Flags } from '@oclif/core'

export const resumeGraceFlag = Flags.string({
  description:
    'how long a dropped connection may take to come back (the session goes on where it was) before the session ends; the gateway may allow less',
  default: '60s',
  env: 'RESCUE_RESUME_GRACE',
})

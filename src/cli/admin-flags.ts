/** Flags every `rescue admin` command that talks to a gateway shares. */
import { Flags } from '@oclif/core'

export const serverFlag = Flags.string({
  description: 'the gateway [default: the one you logged in to]',
  env: 'RESCUE_SERVER',
})

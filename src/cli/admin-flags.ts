/** Flags every `rescue admin` command that talks to a gateway shares. */
import { Flags } from '@oclif/core'

export const serverFlag = Flags.string({
  description: 'the gateway [default: the one you logged in to]',
  env: 'RESCUE_SERVER',
})

/** The gateway's PostgreSQL database, for `server` and `admin init`; the password stays out of argv via the env twin. */
export const databaseFlag = Flags.string({
  description:
    'a PostgreSQL URL (postgres://user@host/db) to keep the data in, for many gateways; the embedded database in --data when absent. Prefer RESCUE_DATABASE_URL when the URL holds a password',
  env: 'RESCUE_DATABASE_URL',
})

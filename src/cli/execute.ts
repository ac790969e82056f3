/**
 * oclif's `execute`, for bin/run.js. It is bundled into dist/ with the commands (scripts/bundle.mjs),
 * so the launcher and every command share one copy of oclif, read from one chunk instead of
 * resolving and reading ~150 CommonJS files at each start (issue 12).
 */
export { execute } from '@oclif/core'

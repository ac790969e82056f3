#!/usr/bin/env node
import module from 'node:module'

// Node 22.1+ caches compiled code between runs (a no-op on 20), which cuts every command's start-up.
module.enableCompileCache?.()
// oclif as bundled into dist/ with the commands (scripts/bundle.mjs): one copy, one chunk to read.
const { execute } = await import('../dist/execute.js')
await execute({ dir: import.meta.url })

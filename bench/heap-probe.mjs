// Loaded into a gateway by bench/gateways.ts (node --import): on SIGUSR2 it writes the process's
// memory as Node sees it, before and after a full garbage collection (node --expose-gc), to the
// file RESCUE_BENCH_HEAP_FILE names. A bench aid only; the gateway itself knows nothing of it.
import fs from 'node:fs'

process.on('SIGUSR2', () => {
  const before = process.memoryUsage()
  if (typeof globalThis.gc === 'function') globalThis.gc()
  const after = process.memoryUsage()
  const file = process.env.RESCUE_BENCH_HEAP_FILE
  if (!file) return
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ before, after }))
  fs.renameSync(`${file}.tmp`, file)
})

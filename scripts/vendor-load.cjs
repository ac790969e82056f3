'use strict'
/**
 * Copied by scripts/bundle.mjs to dist/vendor/load.cjs: loads one of the large dependencies that the
 * build bundled as a single CommonJS file (oclif, ssh2, ws, tweetnacl, zod), with the V8 code cache
 * the build made for it. Why: Node 20 caches no compiled code between runs and none at all for ES
 * modules, and parsing ~2 MB of these libraries was a third of `rescue connect`'s start-up (issue 12).
 *
 * The cache is used only if it comes from the same build as the file (a random id at the end of both)
 * and V8 accepts it (same V8 version and flags); otherwise the file is compiled as usual. Nothing is
 * written at run time.
 */
const fs = require('node:fs')
const path = require('node:path')
const vm = require('node:vm')
const Module = require('node:module')

const BUILD_ID = /\n\/\/ rescue-build ([0-9a-f]{32})\n$/
const loaded = new Map()

/**
 * The libraries' own `import()` (oclif loads commands, hooks and plugins so) is rewritten by the
 * build to call this, a function of this file: node's loader serves it as for any CommonJS module.
 * vm's own hook for `import()` is experimental on Node 20 (a warning) and lost with a code cache.
 */
const importModule = (specifier) => import(specifier)

const wrap = (source) =>
  `(function (exports, require, module, __filename, __dirname, __rescueImport) { ${source}\n})`

function compile(filename, source, cachedData) {
  return new vm.Script(wrap(source), { filename, cachedData })
}

function run(script, filename) {
  const module = new Module(filename, null)
  module.filename = filename
  module.paths = Module._nodeModulePaths(path.dirname(filename))
  Module._cache[filename] = module
  const require = Module.createRequire(filename)
  script
    .runInThisContext()
    .call(module.exports, module.exports, require, module, filename, path.dirname(filename), importModule)
  module.loaded = true
  return module.exports
}

/**
 * The code cache of FILENAME from this build, as [id, source encoding, V8's data], or []. An ASCII
 * file (most are: esbuild escapes what it can) is read as latin1, which skips UTF-8 decoding.
 */
function readCache(filename) {
  let cache
  try {
    cache = fs.readFileSync(`${filename}.v8cache`)
  } catch {
    return []
  }
  const encoding = cache[32] === 0x61 ? 'latin1' : 'utf8'
  return [cache.subarray(0, 32).toString('latin1'), encoding, cache.subarray(33)]
}

/** `require(name)` for a dependency bundled into dist/vendor/NAME.cjs. */
function loadVendor(name) {
  if (loaded.has(name)) return loaded.get(name)
  const filename = path.join(__dirname, `${name}.cjs`)
  const [id, encoding = 'utf8', data] = readCache(filename)
  let source = fs.readFileSync(filename, encoding)
  const current = id !== undefined && BUILD_ID.exec(source)?.[1] === id
  // A cache from another build says nothing about the file's encoding.
  if (!current && encoding !== 'utf8') source = fs.readFileSync(filename, 'utf8')
  const script = compile(filename, source, current ? data : undefined)
  loadVendor.cacheUsed[name] = current && !script.cachedDataRejected
  const exports = run(script, filename)
  loaded.set(name, exports)
  return exports
}

/**
 * For the build: loads `name` as above but without a cache, then writes the code V8 compiled for it
 * (the module's top level and every function its loading ran) with the file's build id.
 */
loadVendor.writeCache = function writeCache(name) {
  const filename = path.join(__dirname, `${name}.cjs`)
  const bytes = fs.readFileSync(filename)
  const ascii = !bytes.some((byte) => byte > 0x7f)
  const source = bytes.toString('utf8')
  const id = BUILD_ID.exec(source)?.[1]
  if (!id) throw new Error(`${filename} has no build id`)
  const script = compile(filename, source, undefined)
  const exports = run(script, filename)
  loaded.set(name, exports)
  fs.writeFileSync(
    `${filename}.v8cache`,
    Buffer.concat([Buffer.from(id + (ascii ? 'a' : 'u'), 'latin1'), script.createCachedData()]),
  )
  return exports
}

/** Whether V8 took each loaded file's code cache (for the tests: a build that made none is a bug). */
loadVendor.cacheUsed = {}

module.exports = loadVendor

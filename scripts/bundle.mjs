/**
 * Bundles each command (compiled by tsc into build/) into dist/, with shared code in dist/chunks.
 * Why: `rescue connect` spent most of its start-up resolving and reading ~350 modules (zod, ws,
 * ssh2, our own); one file per command and a few chunks load in a fraction of that. Native addons
 * and the gateway's server stack (which starts once and is loaded by `rescue server` only) stay
 * in node_modules.
 */
import fs from 'node:fs/promises'
import { readdirSync, statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import path from 'node:path'
import { build } from 'esbuild'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const compiled = path.join(root, 'build')

function commandFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return commandFiles(file)
    return name.endsWith('.js') ? [file] : []
  })
}

// Commands, oclif's hooks (a mistyped command's suggestion), and oclif's `execute` for bin/run.js.
const entryPoints = {
  ...Object.fromEntries(
    [...commandFiles(path.join(compiled, 'commands')), ...commandFiles(path.join(compiled, 'hooks'))].map(
      (file) => [path.relative(compiled, file).replace(/\.js$/, ''), file],
    ),
  ),
  execute: path.join(compiled, 'cli', 'execute.js'),
}

/**
 * ssh2 loads its native crypto binding (built by its install script where a compiler is present:
 * AES-GCM and ChaCha20-Poly1305 contexts reused across packets instead of a new cipher per packet)
 * by a path relative to its own file. Bundled, that path would point into dist/chunks and ssh2
 * would fall back to JavaScript without a word; resolved from the package it is found.
 */
const ssh2Binding = {
  name: 'ssh2-binding',
  setup(build) {
    build.onResolve({ filter: /sshcrypto\.node$/ }, () => ({
      path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node',
      external: true,
    }))
  },
}

/**
 * ssh2 1.17's server announces server-sig-algs with two names run together
 * ("…ecdsa-sha2-nistp521rsa-sha2-512…", a missing comma in sendExtInfo), which OpenSSH clients
 * read as one unknown name (issue 16, row 13). The packet is built and encrypted inside ssh2, so
 * the bundle mends that one string; the build fails if the text is no longer there to mend (an
 * ssh2 that fixed it, or moved it), so that this is looked at again, not silently skipped.
 */
const SIG_ALGS_BUG = "'ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521'\n      + 'rsa-sha2-512"
const ssh2ServerSigAlgs = {
  name: 'ssh2-server-sig-algs',
  setup(build) {
    build.onLoad({ filter: /ssh2[\\/]lib[\\/]protocol[\\/]Protocol\.js$/ }, async (args) => {
      const source = await fs.readFile(args.path, 'utf8')
      if (!source.includes(SIG_ALGS_BUG)) {
        throw new Error(
          `ssh2's server-sig-algs is not as scripts/bundle.mjs expects in ${args.path}: look again`,
        )
      }
      return {
        contents: source.replace(SIG_ALGS_BUG, SIG_ALGS_BUG.replace("nistp521'", "nistp521,'")),
        loader: 'js',
      }
    })
  },
}

/**
 * ssh2 opens and accepts every channel with a 2 MiB window (its own constant) and tops it up only
 * when half of it is used: a sender may then have at most 2 MiB on the way, and on rescue's three
 * hops (connect, the gateway, the host, each a process on loopback at best) the window's top-up
 * comes back a whole round trip later (issue 12). 8 MiB lets a transfer keep its requests moving;
 * a peer's own window still bounds what ssh2 sends it (OpenSSH advertises 2 MiB), and the channel
 * streams buffer at most this much each.
 */
const WINDOW_EDIT = { from: 'const MAX_WINDOW = 2 * 1024 * 1024;', to: 'const MAX_WINDOW = 8 * 1024 * 1024;' }

/**
 * ssh2 cuts channel data into 32 KiB packets (its own constant, for every channel it opens or
 * accepts) and refuses packets over 35,000 bytes. Bulk data then costs one packet's JavaScript,
 * allocation and cipher call per 32 KiB on both ends (issue 12): with 256 KiB packets, the size
 * OpenSSH itself accepts (PACKET_MAX_SIZE), an SFTP request of 192 KiB is one packet instead of
 * seven (255 KiB of data, so that a whole packet stays within those 256 KiB). Each side advertises what it takes when a channel opens and sends at most what the other
 * advertised, so an OpenSSH client (--listen) or an older rescue still gets 32 KiB packets. As
 * above, the build fails if the text to change is gone.
 */
const SSH2_PACKET_TEXT = [
  {
    file: /ssh2[\\/]lib[\\/]Channel\.js$/,
    edits: [
      { from: 'const PACKET_SIZE = 32 * 1024;', to: 'const PACKET_SIZE = 256 * 1024 - 1024;' },
      WINDOW_EDIT,
    ],
  },
  {
    file: /ssh2[\\/]lib[\\/]protocol[\\/]crypto\.js$/,
    edits: [{ from: 'const MAX_PACKET_SIZE = 35000;', to: 'const MAX_PACKET_SIZE = 256 * 1024;' }],
  },
]
const ssh2PacketSize = {
  name: 'ssh2-packet-size',
  setup(build) {
    // One onLoad per file: esbuild uses the first that answers, so a file's edits go together.
    for (const { file, edits } of SSH2_PACKET_TEXT) {
      build.onLoad({ filter: file }, async (args) => {
        let source = await fs.readFile(args.path, 'utf8')
        for (const { from, to } of edits) {
          if (!source.includes(from)) {
            throw new Error(
              `ssh2's "${from}" is not in ${args.path} as scripts/bundle.mjs expects: look again`,
            )
          }
          source = source.replace(from, to)
        }
        return { contents: source, loader: 'js' }
      })
    }
  },
}

/**
 * `import { z } from 'zod'` is a namespace object, so esbuild cannot drop what of zod is unused:
 * every one of its ~60 error-message locales came along (1.6 MB of source, half the chunk that
 * `connect` and `host` parse and run at start-up, issue 12). rescue speaks English only and never
 * reads `z.locales`; zod itself imports `en` directly. The build fails if the file changes shape.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, async (args) => {
      const source = await fs.readFile(args.path, 'utf8')
      if (!source.includes('export { default as en } from "./en.js";')) {
        throw new Error(`zod's locales are not as scripts/bundle.mjs expects in ${args.path}: look again`)
      }
      return { contents: 'export { default as en } from "./en.js";\n', loader: 'js' }
    })
  },
}

/**
 * The large dependencies of `connect`, `host` and `--version`, each bundled into one CommonJS file,
 * dist/vendor/NAME.cjs, that dist/vendor/load.cjs (scripts/vendor-load.cjs) loads with a V8 code
 * cache made here: Node 20 keeps no compiled code between runs and cannot cache ES modules at all,
 * and compiling these ~2 MB was ~110 ms of `connect`'s start-up (issue 12). The commands' bundle
 * imports them through small modules (below) in place of the packages.
 */
const VENDORED = {
  '@oclif/core': { name: 'oclif', entry: "module.exports = require('@oclif/core')" },
  ssh2: { name: 'ssh2', entry: "module.exports = require('ssh2')" },
  ws: { name: 'ws', entry: "module.exports = require('ws')" },
  tweetnacl: { name: 'tweetnacl', entry: "module.exports = require('tweetnacl')" },
  // zod is ES modules: imported as such, so that its English-only locales (above) apply.
  zod: { name: 'zod', entry: "export * from 'zod'" },
}
const vendorDir = path.join(root, 'dist', 'vendor')
const buildId = randomBytes(16).toString('hex')

const vendorEntries = {
  name: 'vendor-entries',
  setup(build) {
    build.onResolve({ filter: /^vendor-entry:/ }, (args) => ({
      path: args.path.slice('vendor-entry:'.length),
      namespace: 'vendor-entry',
    }))
    build.onLoad({ filter: /.*/, namespace: 'vendor-entry' }, (args) => ({
      contents: VENDORED[args.path].entry,
      resolveDir: root,
      loader: 'js',
    }))
  },
}

await build({
  plugins: [vendorEntries, ssh2Binding, ssh2ServerSigAlgs, ssh2PacketSize, zodEnglishOnly],
  entryPoints: Object.fromEntries(
    Object.entries(VENDORED).map(([pkg, { name }]) => [name, `vendor-entry:${pkg}`]),
  ),
  outdir: vendorDir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // Read by load.cjs, which uses a code cache only with the file it was made from.
  footer: { js: `// rescue-build ${buildId}` },
  external: ['typescript', 'cpu-features', 'bufferutil', '*.node'],
})
await fs.copyFile(path.join(root, 'scripts', 'vendor-load.cjs'), path.join(vendorDir, 'load.cjs'))

/**
 * `import()` in a file that load.cjs compiles would need vm's experimental hook, which a code cache
 * also loses: the build points each one (oclif's, to load commands and hooks) at load.cjs's own.
 * Any other shape of `import(` fails the build, so that a new one is looked at, not broken.
 */
for (const { name } of Object.values(VENDORED)) {
  const file = path.join(vendorDir, `${name}.cjs`)
  const source = (await fs.readFile(file, 'utf8')).replace(/\bawait import\(/g, 'await __rescueImport(')
  const left = source.match(/(?<![\w$.`"'])import\(/)
  if (left) throw new Error(`dist/vendor/${name}.cjs has an import() the build does not rewrite: look again`)
  await fs.writeFile(file, source)
}

// Each file is loaded once here: its code cache is written, and its export names are read for the
// modules that stand in for the packages.
const loadVendor = createRequire(import.meta.url)(path.join(vendorDir, 'load.cjs'))
const vendorExports = {}
for (const [pkg, { name }] of Object.entries(VENDORED)) {
  vendorExports[pkg] = Object.keys(loadVendor.writeCache(name)).filter(
    (key) => key !== 'default' && key !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(key),
  )
}

/**
 * `import { z } from 'zod'` and the like, in the commands' bundle: the package as loaded by
 * load.cjs, with node's meaning for a CommonJS module (default = the module's exports).
 */
const vendorModules = {
  name: 'vendor-modules',
  setup(build) {
    const filter = new RegExp(
      `^(${Object.keys(VENDORED)
        .map((pkg) => pkg.replace(/[/@]/g, '\\$&'))
        .join('|')})$`,
    )
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'vendor-module' }))
    build.onLoad({ filter: /.*/, namespace: 'vendor-module' }, (args) => ({
      contents: [
        "import { createRequire } from 'node:module'",
        `const vendor = createRequire(import.meta.url)('#vendor/load.cjs')(${JSON.stringify(VENDORED[args.path].name)})`,
        `export const { ${vendorExports[args.path].join(', ')} } = vendor`,
        'export default vendor',
      ].join('\n'),
      loader: 'js',
    }))
  },
}

await build({
  plugins: [vendorModules, ssh2Binding, ssh2ServerSigAlgs, ssh2PacketSize, zodEnglishOnly],
  entryPoints,
  outdir: path.join(root, 'dist'),
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  external: [
    // oclif is bundled (one chunk shared by bin/run.js and the commands: a third of the start-up
    // of `rescue --version` was node resolving and reading oclif's ~150 files). TypeScript is what
    // oclif loads only to run commands from src/ in development.
    'typescript',
    // Native addons, loaded from node_modules by their own loaders.
    'better-sqlite3',
    '@lydell/node-pty',
    '@napi-rs/keyring',
    'cpu-features',
    // ws's optional native masking (prebuilt for common platforms, inside the package).
    'bufferutil',
    // Loaded by Ink only under DEV=true.
    'react-devtools-core',
    '*.node',
    // The gateway's server stack: its plugins and logger resolve files at run time.
    'fastify',
    '@fastify/*',
    'pino',
    'pg',
    // Loads platform modules at run time.
    'systeminformation',
  ],
  // CommonJS dependencies (ws, ssh2) expect require and __dirname, which ESM output lacks.
  banner: {
    js: [
      "import { createRequire as __rescueRequire } from 'node:module'",
      "import { fileURLToPath as __rescuePath } from 'node:url'",
      'const require = __rescueRequire(import.meta.url)',
      'const __filename = __rescuePath(import.meta.url)',
      "const __dirname = __rescuePath(new URL('.', import.meta.url))",
    ].join('\n'),
  },
})

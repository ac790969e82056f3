/**
 * What sealing a recording costs, against `openssl enc -aes-256-gcm`'s cousin in the same run:
 * Node's own AES-256-GCM over the same bytes (the floor: sealing adds one tweetnacl box of 32
 * bytes), and tweetnacl's secretbox over the same bytes (what sealing the whole recording with
 * tweetnacl would cost). Prints JSON. `npx tsx bench/recordings.ts --mib 16`
 */
import { createCipheriv, randomBytes } from 'node:crypto'
import nacl from 'tweetnacl'
import { generateRecordingKey, openRecording, sealRecording } from '../src/core/recordings/seal.js'

const mib = Number(process.argv[process.argv.indexOf('--mib') + 1]) || 16
const data = randomBytes(mib * 1024 * 1024)
const time = (run: () => void) => {
  const start = process.hrtime.bigint()
  run()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return { seconds: Math.round(seconds * 1000) / 1000, mibPerSecond: Math.round(mib / seconds) }
}
const key = generateRecordingKey()
// Warm up (first use loads OpenSSL's cipher and compiles tweetnacl) before anything is timed.
openRecording(sealRecording(data.subarray(0, 1 << 20), key.publicKey, 'w'), key, 'w')
let sealed: Buffer = Buffer.alloc(0)
const seal = time(() => (sealed = sealRecording(data, key.publicKey, 'id\nsession')))
const open = time(() => openRecording(sealed, key, 'id\nsession'))
const aes = time(() => {
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12))
  Buffer.concat([cipher.update(data), cipher.final()])
})
const secretbox = time(() => nacl.secretbox(data, nacl.randomBytes(24), nacl.randomBytes(32)))
console.log(
  JSON.stringify({ mib, seal, open, reference: { nodeAes256Gcm: aes, tweetnaclSecretbox: secretbox } }),
)

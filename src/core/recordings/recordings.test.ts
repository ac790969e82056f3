import { describe, expect, it } from 'vitest'
import { generateSshKeyPair } from '../ssh/keys.js'
import { CastWriter, parseCast } from './cast.js'
import { ChannelCheckpoints, checkpointSigner } from './checkpoint.js'
import { generateRecordingKey, openRecording, sealRecording } from './seal.js'
import { verifyRecording } from './verify.js'

/** A recording as both sides make it: the host hashes and signs, the technician writes what arrives. */
function record(chunks: string[]): string {
  const keys = generateSshKeyPair()
  const host = new ChannelCheckpoints(checkpointSigner(keys.privateKey), {
    session: 's1',
    channel: 3,
    kind: 'shell',
  })
  const writer = new CastWriter()
  writer.begin(
    { session: 's1', channel: 3, kind: 'shell', hostKey: keys.publicKey, input: false },
    { cols: 80, rows: 24 },
  )
  chunks.forEach((chunk, index) => {
    const bytes = Buffer.from(chunk)
    host.hashes.o.push(bytes)
    writer.output('o', bytes)
    if (index === 1) writer.checkpoint(host.make()!)
  })
  writer.resize(100, 30)
  writer.finishStreams()
  writer.checkpoint(host.make(true)!)
  return writer.text()
}

const lines = (text: string) => text.split('\n').slice(0, -1)

describe('a recording with the host checkpoints', () => {
  const text = record(['hello ', 'wörld\r\n', '$ ', 'exit\r\n'])

  it('verifies as it was made', () => {
    const result = verifyRecording(text)
    expect(result.problems).toEqual([])
    expect(result).toMatchObject({
      valid: true,
      checkpoints: 2,
      bytes: { o: Buffer.byteLength('hello wörld\r\n$ exit\r\n') },
    })
  })

  it('fails after one byte changed, an event removed, an event added, or the end cut', () => {
    expect(verifyRecording(text.replace('wörld', 'world')).valid).toBe(false)
    const all = lines(text)
    const withoutEvent = [...all.slice(0, 3), ...all.slice(4)].join('\n') + '\n'
    expect(verifyRecording(withoutEvent).valid).toBe(false)
    const time = (JSON.parse(all.at(-2)!) as [number])[0]
    const added =
      [...all.slice(0, -1), JSON.stringify([time, 'o', 'rm -rf /\r\n']), all.at(-1)].join('\n') + '\n'
    expect(verifyRecording(added).problems.join()).toMatch(/never sent/)
    expect(verifyRecording(all.slice(0, -1).join('\n') + '\n').problems.join()).toMatch(/final checkpoint/)
    expect(verifyRecording(text.slice(0, text.length - 20)).valid).toBe(false)
  })

  it('refuses a checkpoint signed by another key', () => {
    const other = record(['hello ', 'wörld\r\n', '$ ', 'exit\r\n'])
    const [, code, data] = JSON.parse(lines(other).at(-1)!) as [number, string, string]
    const ours = lines(text)
    // The other recording's final checkpoint, at our own last time: only its signature differs.
    const time = (JSON.parse(ours.at(-1)!) as [number])[0]
    const swapped = [...ours.slice(0, -1), JSON.stringify([time, code, data])].join('\n') + '\n'
    expect(verifyRecording(swapped).problems.join()).toMatch(/did not sign/)
  })

  it('says which line of a malformed file is bad', () => {
    expect(() => parseCast('{"version":2,"width":80,"height":24}\n[1,"o"]\n')).toThrow(/line 2/)
    expect(() => parseCast('not json\n')).toThrow(/line 1/)
    expect(verifyRecording('').valid).toBe(false)
  })
})

describe('sealing to the recording key', () => {
  it('opens with the private key and the same context only', () => {
    const key = generateRecordingKey()
    const sealed = sealRecording(Buffer.from('secret output'), key.publicKey, 'r1\ns1')
    expect(sealed.includes(Buffer.from('secret output'))).toBe(false)
    expect(openRecording(sealed, key, 'r1\ns1').toString()).toBe('secret output')
    expect(() => openRecording(sealed, key, 'r2\ns1')).toThrow(/changed or cut/)
    expect(() => openRecording(sealed, generateRecordingKey(), 'r1\ns1')).toThrow(/another key/)
    expect(() => openRecording(sealed.subarray(0, sealed.length - 3), key, 'r1\ns1')).toThrow(
      /changed or cut/,
    )
    expect(() => openRecording(Buffer.from('garbage'), key, 'r1\ns1')).toThrow(/not a sealed recording/)
  })
})

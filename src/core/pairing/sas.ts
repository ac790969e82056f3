import { existsSync, readFileSync } from 'node:fs'

import { BugError } from '../errors.js'

/** Words in a short authentication string: 3 x 11 bits = 33 bits, one MITM guess in 2^33. */
export const SAS_WORD_COUNT = 3

const BITS_PER_WORD = 11
const WORD_LIST_SIZE = 2 ** BITS_PER_WORD

/** Bytes of key material the SAS needs (33 bits round up to 5 bytes). */
export const SAS_BYTE_LENGTH = Math.ceil((SAS_WORD_COUNT * BITS_PER_WORD) / 8)

// Sources sit three levels below the package root (src/core/pairing); the bundled build two
// (dist/commands, dist/chunks). The list is looked for at each, nearest first.
const wordListUrls = ['../../assets/sas-words.txt', '../../../assets/sas-words.txt'].map(
  (relative) => new URL(relative, import.meta.url),
)
const wordListUrl = wordListUrls.find((url) => existsSync(url)) ?? wordListUrls[1]!

let words: readonly string[] | undefined

/** The BIP-39 English word list, read once; a missing or altered list is our bug, not the user's. */
export function loadSasWords(): readonly string[] {
  if (words) return words
  let text: string
  try {
    text = readFileSync(wordListUrl, 'utf8')
  } catch (error) {
    throw new BugError(`cannot read the SAS word list at ${wordListUrl.pathname}`, { cause: error })
  }
  const list = text.split(/\r?\n/).filter((line) => line !== '')
  const wellFormed = list.every((word) => /^[a-z]+$/.test(word))
  if (list.length !== WORD_LIST_SIZE || new Set(list).size !== WORD_LIST_SIZE || !wellFormed) {
    throw new BugError(
      `the SAS word list at ${wordListUrl.pathname} must hold ${WORD_LIST_SIZE} unique lowercase words`,
    )
  }
  words = Object.freeze(list)
  return words
}

/** Turns derived SAS bytes into words, each indexed by the next 11 bits (most significant first). */
export function sasWordsFrom(bytes: Uint8Array): string[] {
  if (bytes.length < SAS_BYTE_LENGTH) throw new BugError(`SAS needs ${SAS_BYTE_LENGTH} bytes`)
  const list = loadSasWords()
  const result: string[] = []
  for (let w = 0; w < SAS_WORD_COUNT; w++) {
    let index = 0
    for (let b = w * BITS_PER_WORD; b < (w + 1) * BITS_PER_WORD; b++) {
      const bit = ((bytes[b >> 3] ?? 0) >> (7 - (b & 7))) & 1
      index = (index << 1) | bit
    }
    const word = list[index]
    if (word === undefined) throw new BugError(`SAS index ${index} is outside the word list`)
    result.push(word)
  }
  return result
}

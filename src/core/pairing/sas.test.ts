import { readFileSync } from 'node:fs'

import { describe, expect, it } from 'vitest'

import { SAS_BYTE_LENGTH, SAS_WORD_COUNT, loadSasWords, sasWordsFrom } from './sas.js'

describe('SAS words', () => {
  it('loads the 2048 unique words of the BIP-39 English list, in order', () => {
    const words = loadSasWords()
    expect(words).toHaveLength(2048)
    expect(new Set(words).size).toBe(2048)
    expect(words[0]).toBe('abandon')
    expect(words[2047]).toBe('zoo')
    expect(loadSasWords()).toBe(words)
  })

  it('carries at least 20 bits: three words of 11 bits each', () => {
    expect(SAS_WORD_COUNT * Math.log2(loadSasWords().length)).toBeGreaterThanOrEqual(20)
    expect(SAS_BYTE_LENGTH).toBe(5)
  })

  it('takes each word from the next 11 bits, most significant first', () => {
    expect(sasWordsFrom(new Uint8Array(5))).toEqual(['abandon', 'abandon', 'abandon'])
    expect(sasWordsFrom(new Uint8Array(5).fill(0xff))).toEqual(['zoo', 'zoo', 'zoo'])
    // bits 00000000001 | 00000000010 | 00000000011 | 0000000 (unused): indexes 1, 2, 3
    expect(sasWordsFrom(Uint8Array.of(0x00, 0x20, 0x08, 0x01, 0x80))).toEqual(['ability', 'able', 'about'])
    expect(sasWordsFrom(Uint8Array.of(0x00, 0x20, 0x08, 0x01, 0xff))).toEqual(['ability', 'able', 'about'])
  })

  it('words are distinct in their first four letters, so a misheard word is still recognisable', () => {
    const prefixes = new Set(loadSasWords().map((word) => word.slice(0, 4)))
    expect(prefixes.size).toBe(2048)
  })

  it('reads the list shipped in assets/', () => {
    const shipped = readFileSync(new URL('../../../assets/sas-words.txt', import.meta.url), 'utf8')
    expect(shipped.trim().split('\n')).toEqual([...loadSasWords()])
  })
})

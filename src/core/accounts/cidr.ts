/**
 * IP allow-lists: CIDR blocks parsed and matched with ipaddr.js (IPv4, IPv6, and IPv4-mapped IPv6
 * addresses as Node reports them on dual-stack sockets). A hand-written matcher is where
 * allow-list bypasses come from (octal, mapped and zero-padded forms), so the library decides.
 */
import ipaddr from 'ipaddr.js'
import { UserError } from '../errors.js'

/** Parses "10.0.0.0/8, 127.0.0.1" into normalised CIDR strings; a bare address is a /32 or /128. */
export function parseCidrList(list: string): string[] {
  const blocks = list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
  return [...new Set(blocks.map(normaliseCidr))]
}

/** Only the standard forms: 1.2.3.4 (not 1.2.3, 0x7f.1 or 010.0.0.1) and IPv6. */
function isStandardAddress(address: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address)
}

export function normaliseCidr(block: string): string {
  try {
    const [addressPart = ''] = block.split('/')
    if (!isStandardAddress(addressPart)) throw new Error('not a standard address')
    if (block.includes('/')) {
      const [address, bits] = ipaddr.parseCIDR(block)
      // The network address, so 10.1.2.3/8 is stored as what it means: 10.0.0.0/8.
      const network =
        address.kind() === 'ipv4'
          ? ipaddr.IPv4.networkAddressFromCIDR(block)
          : ipaddr.IPv6.networkAddressFromCIDR(block)
      return `${network.toString()}/${bits}`
    }
    const address = ipaddr.parse(block)
    return `${address.toString()}/${address.kind() === 'ipv4' ? 32 : 128}`
  } catch {
    throw new UserError(
      'usage',
      `"${block}" is not an IP address or CIDR block`,
      'write blocks like 10.0.0.0/8, 192.168.1.20 or 2001:db8::/32, separated by commas',
    )
  }
}

/** Whether `address` (as a socket reports it) lies in one of `blocks`; an unparsable address never does. */
export function addressInBlocks(address: string | undefined, blocks: readonly string[]): boolean {
  if (!address || !isStandardAddress(address)) return false
  // ::ffff:10.1.2.3 is the IPv4 address 10.1.2.3 arriving on an IPv6 socket.
  const parsed = ipaddr.process(address)
  return blocks.some((block) => {
    const [network, bits] = ipaddr.parseCIDR(block)
    if (network.kind() === 'ipv4') {
      return parsed.kind() === 'ipv4' && (parsed as ipaddr.IPv4).match(network as ipaddr.IPv4, bits)
    }
    // An IPv6 block such as ::ffff:0:0/96 can hold an IPv4 address too.
    const v6 =
      parsed.kind() === 'ipv6' ? (parsed as ipaddr.IPv6) : (parsed as ipaddr.IPv4).toIPv4MappedAddress()
    return v6.match(network as ipaddr.IPv6, bits)
  })
}

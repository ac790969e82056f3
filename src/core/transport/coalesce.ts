/**
 * Writes made on a socket in one turn of the event loop leave in one system call (a writev) at its
 * end. An SFTP answer on the host is one SSH packet, then the session reports it caused (a consent
 * decision, a file's name and hash), each its own WebSocket message; ssh2 writes each packet of a
 * reply on its own too. On loopback and on a busy machine every write is a wake-up of the reader,
 * so a tree of small files paid several per file at every hop. Nothing waits longer than the
 * current turn: the socket is uncorked from setImmediate, which runs before the loop sleeps again.
 * Imports nothing of ours.
 */
import type net from 'node:net'

/** Applies to every later write on `socket`; a socket given twice is left as it is. */
export function coalesceWrites(socket: net.Socket): void {
  if (coalesced.has(socket)) return
  coalesced.add(socket)
  const write = socket.write
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  flushers.set(socket, () => {
    if (corked) uncork()
  })
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork()
      setImmediate(uncork)
    }
    return write.apply(this, args)
  } as net.Socket['write']
}

/**
 * Sends what this turn has written so far now, not at its end: for a message that must have left
 * before anything else happens (the resume key, before `paired` is told and the side may die).
 */
export function flushWrites(socket: net.Socket | undefined): void {
  if (socket) flushers.get(socket)?.()
}

/** The TCP socket under a `ws` WebSocket, once it is open (ws keeps it in `_socket`). */
export function socketUnder(webSocket: object): net.Socket | undefined {
  const socket = (webSocket as { _socket?: unknown })._socket
  return socket && typeof (socket as net.Socket).cork === 'function' ? (socket as net.Socket) : undefined
}

const coalesced = new WeakSet<net.Socket>()
const flushers = new WeakMap<net.Socket, () => void>()

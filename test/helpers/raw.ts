/**
 * Raw-socket clients for tests that need control of the bytes: exact byte counts,
 * pipelining, aborting mid-body, reading slowly.
 */
import { connect, type Socket } from 'node:net'

/** Open a TCP connection to `url`'s port on loopback. */
export function openSocket(url: string): Promise<Socket> {
  const { port } = new URL(url)
  return new Promise((ok, fail) => {
    const socket = connect(Number(port), '127.0.0.1', () => ok(socket))
    socket.once('error', fail)
  })
}

/** Send `request` (raw bytes) and collect everything until the server closes the connection. */
export async function rawExchange(url: string, request: string | Buffer): Promise<Buffer> {
  const socket = await openSocket(url)
  const chunks: Buffer[] = []
  return new Promise((ok, fail) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', fail)
    socket.on('close', () => ok(Buffer.concat(chunks)))
    socket.write(request)
  })
}

/** A parsed HTTP/1.1 response: status, lower-cased headers (repeats joined by ', ') and raw head text. */
export interface RawResponse {
  status: number
  statusText: string
  headers: Record<string, string>
  head: string
  body: Buffer
}

/** Split a raw response (one, not chunked-decoded) into status, headers and body bytes. */
export function parseRawResponse(bytes: Buffer): RawResponse {
  const split = bytes.indexOf('\r\n\r\n')
  const head = bytes.subarray(0, split).toString('latin1')
  const [statusLine, ...lines] = head.split('\r\n')
  const match = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine!)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const raw = bytes.subarray(split + 4)
  const body = headers['transfer-encoding'] === 'chunked' ? decodeChunked(raw) : raw
  return { status: Number(match?.[1]), statusText: match?.[2] ?? '', headers, head, body }
}

/** Decode a chunked body (stopping at the last chunk; trailers are ignored). */
export function decodeChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16)
    if (!(size > 0)) break
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}

/** One request on a fresh connection (`Connection: close`), parsed: exactly the bytes a client sends, no agent in between. */
export const rawGet = (url: string, path = '/', method = 'GET'): Promise<RawResponse> =>
  rawExchange(url, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(parseRawResponse)

/**
 * One request with exactly these header lines, in order and with repeats kept (two `Origin`
 * lines stay two), on a fresh connection, parsed. `Host: x` is added when no Host is given.
 */
export function rawRequest(
  url: string,
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
): Promise<RawResponse> {
  const lines = headers.some(([name]) => name.toLowerCase() === 'host') ? [] : ['Host: x']
  for (const [name, value] of headers) lines.push(`${name}: ${value}`)
  return rawExchange(url, `${method} ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`).then(
    parseRawResponse,
  )
}

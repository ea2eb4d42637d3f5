/**
 * HTTP/2 over cleartext (h2c) on loopback: a server on Node's compatibility API and a client.
 */
import { connect, createServer, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { RawHandler } from '../../lib/index.js'

/** Serve `handler` over h2c on 127.0.0.1:0; closed when `t` ends. */
export async function serveH2(t: Test, handler: RawHandler): Promise<string> {
  const server: Http2Server = createServer((req, res) => {
    Promise.resolve(handler(req as never, res as never)).catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 599
        res.end(String(err))
      } else res.stream.destroy(err as Error)
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export interface H2Result {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

/** One request over a fresh h2c session. */
export function h2Request(url: string, headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<H2Result> {
  return new Promise((ok, fail) => {
    const session = connect(url)
    session.on('error', fail)
    const { pathname, search } = new URL(url)
    const stream = session.request({ ':path': `${pathname}${search}`, ...headers })
    let responseHeaders: IncomingHttpHeaders = {}
    const parts: Buffer[] = []
    stream.on('response', (h) => {
      responseHeaders = h
    })
    stream.on('data', (d: Buffer) => parts.push(d))
    stream.on('end', () => {
      session.close()
      const data = Buffer.concat(parts)
      ok({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: data, text: data.toString() })
    })
    stream.on('error', (err) => {
      session.close()
      fail(err)
    })
    stream.end(body)
  })
}

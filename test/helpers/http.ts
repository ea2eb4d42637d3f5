/**
 * A plain node:http client for tests that must control headers fetch refuses to send
 * (Host, Connection, Transfer-Encoding) or must see a body undecoded.
 */
import { request, type IncomingHttpHeaders } from 'node:http'

export interface HttpResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  text: string
}

export interface HttpOptions {
  method?: string
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** Use a fresh connection that closes afterwards. @default true */
  close?: boolean
}

/** Make one request and read the whole response, undecoded. */
export function httpRequest(url: string, options: HttpOptions = {}): Promise<HttpResult> {
  return new Promise((ok, fail) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.close === false ? undefined : false,
      },
      (res) => {
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('end', () => {
          const body = Buffer.concat(parts)
          ok({ status: res.statusCode!, headers: res.headers, body, text: body.toString() })
        })
        res.on('error', fail)
      },
    )
    req.on('error', fail)
    req.end(options.body)
  })
}

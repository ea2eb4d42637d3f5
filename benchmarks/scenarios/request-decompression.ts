/// <reference path="../../test/types/frameworks.d.ts" />
/**
 * requestDecompression's cost: a 64 KB JSON body sent as gzip (~4 KB on the wire), read
 * whole and parsed by the handler. Against the same handler decoding by hand
 * (`pipeline(req, createGunzip(), decodedSizeLimit(...))`), Express's `express.json()`
 * (body-parser inflates itself), and the layer mounted in Express through `toExpress` in front
 * of `express.json()`. Fastify has no built-in request decompression; its plugin
 * (`fastify-compress`'s `onRequest` decoding) is not in the peer set.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { createGunzip, gzip } from 'node:zlib'
import express from 'express'
import { decodedSizeLimit, requestDecompression } from '../../lib/index.js'
import { toExpress } from '../../adapters/express.js'
import { largeJson, listen, type Comparison, type Scenario } from '../common.js'

const LIMIT = 1024 * 1024
const body = await promisify(gzip)(Buffer.from(largeJson))

/** Answer with the number of items of the JSON `bytes`. */
function answer(res: ServerResponse, bytes: Buffer): void {
  const parsed = JSON.parse(bytes.toString()) as { items: unknown[] }
  res.setHeader('content-type', 'application/json')
  res.end(`{"items":${parsed.items.length}}`)
}

/** Collect a stream's chunks into `parts`. */
const collect = (parts: Buffer[]) =>
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(chunk)
      done()
    },
  })

/** node:http, decoding by hand: what a handler without the layer writes. */
const byHand = async (req: IncomingMessage, res: ServerResponse) => {
  const parts: Buffer[] = []
  if (req.headers['content-encoding'] === 'gzip')
    await pipeline(req, createGunzip(), decodedSizeLimit(LIMIT), collect(parts))
  else await pipeline(req, collect(parts))
  answer(res, Buffer.concat(parts))
}

/** The same handler, reading decoded bytes from req. */
const plain = async (req: IncomingMessage, res: ServerResponse) => {
  const parts: Buffer[] = []
  for await (const chunk of req) parts.push(chunk as Buffer)
  answer(res, Buffer.concat(parts))
}

function expressApp(layer: boolean) {
  const app = express()
  app.disable('x-powered-by')
  if (layer) app.use(toExpress(requestDecompression({ maxDecodedSize: LIMIT })))
  app.use(express.json({ limit: LIMIT }))
  app.post('/ingest', (req, res) => {
    res.json({ items: (req.body as { items: unknown[] }).items.length })
  })
  return app
}

export const scenarios: Record<string, Scenario> = {
  'decompress-hand': {
    description: 'node:http, pipeline(req, createGunzip(), decodedSizeLimit()) by hand',
    start: () => listen(((req, res) => byHand(req, res).catch(() => res.destroy())) as RequestListener),
  },
  'decompress-onion': {
    description: 'requestDecompression(), the handler reading req',
    start: () => {
      const handler = requestDecompression({ maxDecodedSize: LIMIT })(plain)
      // An aborted upload (autocannon stops mid-request) rejects the read: drop the connection.
      return listen(((req, res) => Promise.resolve(handler(req, res)).catch(() => res.destroy())) as RequestListener)
    },
  },
  'decompress-express': {
    description: "Express 5, express.json() (body-parser's own inflate)",
    start: () => listen(expressApp(false)),
  },
  'decompress-express-onion': {
    description: 'Express 5, toExpress(requestDecompression()) then express.json()',
    start: () => listen(expressApp(true)),
  },
}

export const comparisons: Comparison[] = [
  {
    name: 'requestDecompression: a 64 KB JSON body sent as gzip, parsed',
    route: '/ingest',
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    baseline: 'decompress-hand',
    scenarios: ['decompress-hand', 'decompress-onion', 'decompress-express', 'decompress-express-onion'],
    expect: { status: 200 },
  },
]

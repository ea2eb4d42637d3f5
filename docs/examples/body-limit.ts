// bodyLimit(): 413 for bodies over the limit, declared or counted, without buffering;
// decodedSizeLimit() for bodies the handler decompresses (docs/middleware/body-limit.md).
import { createServer, type IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { bodyLimit, compose, decodedSizeLimit, errorBoundary, serverTimeouts } from 'http-onion'

/** Count the bytes of a body, inflating gzip with a limit on the decoded size. */
async function bodySize(req: IncomingMessage): Promise<number> {
  let size = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      size += chunk.length
      done()
    },
  })
  if (req.headers['content-encoding'] === 'gzip') await pipeline(req, createGunzip(), decodedSizeLimit(64 * 1024), sink)
  else await pipeline(req, sink)
  return size
}

const app = compose(
  errorBoundary(),
  bodyLimit({ limit: 1024 }),
)(async (req, res) => {
  res.end(`received ${await bodySize(req)} bytes\n`)
})

serverTimeouts(createServer(app)).listen(3000)

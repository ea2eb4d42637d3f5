// requestDecompression(): gzip, deflate and br request bodies decoded as they stream, with
// limits on the size as sent and decoded (docs/middleware/request-decompression.md).
import { createServer } from 'node:http'
import { bodyLimit, compose, errorBoundary, requestDecompression, serverTimeouts } from 'http-onion'

const app = compose(
  errorBoundary(),
  bodyLimit({ limit: 64 * 1024 }),
  requestDecompression({ maxDecodedSize: 1024 * 1024 }),
)(async (req, res) => {
  let events = 0
  let bytes = 0
  // The handler reads decoded bytes, as if the client had sent them plain.
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length
    for (const byte of chunk as Buffer) if (byte === 0x0a) events++
  }
  res.end(`${events} events in ${bytes} bytes\n`)
})

serverTimeouts(createServer(app)).listen(3000)

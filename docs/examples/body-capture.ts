// bodyCapture(): the first bytes of each request body, redacted, in the error report
// (docs/middleware/body-capture.md).
import { createServer } from 'node:http'
import { bodyCapture, compose, errorBoundary, HttpError, serverTimeouts, tryGetCapturedBody } from 'http-onion'

const app = compose(
  errorBoundary({
    onError: (report) =>
      console.log(`${report.status} ${report.req.url} body: ${tryGetCapturedBody(report.req)?.text() ?? '-'}`),
  }),
  bodyCapture({
    maxBytes: 256,
    redact: (bytes) => bytes.toString().replace(/"password":"[^"]*"/g, '"password":"***"'),
  }),
)(async (req, res) => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  let login: { user?: unknown }
  try {
    login = JSON.parse(Buffer.concat(chunks).toString()) as { user?: unknown }
  } catch {
    throw new HttpError(400, 'The body is not JSON')
  }
  if (typeof login.user !== 'string') throw new HttpError(422, 'user is required')
  res.end(`hello ${login.user}\n`)
})

serverTimeouts(createServer(app)).listen(3000)

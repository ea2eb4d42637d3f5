// errorBoundary({ format, map }): every error the stack writes, refusals included, in one
// format chosen once; map() reshapes a refusal (docs/errors.md#choosing-the-format).
import { createServer } from 'node:http'
import { compose, errorBoundary, HttpError, jwtAuth, mount, rateLimit, requestId, serverTimeouts } from 'http-onion'

// A client that expects express-rate-limit's plain-text answer keeps getting one: the
// format is a function that receives the error and returns (or writes) the body.
const legacy = compose(
  errorBoundary({
    format: ({ code, message }) =>
      code === 'too_many_requests' ? 'Too many requests, please try again later.' : message,
  }),
  rateLimit({ name: 'legacy', limit: 1 }),
)((_req, res) => {
  res.end('legacy ok\n')
})

const app = compose(
  errorBoundary({
    // RFC 9457 application/problem+json for every refusal and every exception.
    format: 'problem',
    // express-rate-limit's statusCode and message: change the limiter's refusal here.
    map: (err) =>
      err instanceof HttpError && err.code === 'too_many_requests'
        ? new HttpError(503, 'Slow down, then try again.', { code: 'slow_down', expose: true })
        : undefined,
  }),
  requestId(),
  mount('/legacy', legacy),
  rateLimit({ limit: 2 }),
  jwtAuth({ secret: process.env.JWT_SECRET ?? 'dev-only-secret-of-at-least-32-bytes!' }),
)((_req, res) => {
  res.end('ok\n')
})

serverTimeouts(createServer(app)).listen(3000)

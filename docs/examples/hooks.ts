// hooks(): before (may answer), after (at response start), teardown (once, always)
// (docs/middleware/hooks.md).
import { createServer } from 'node:http'
import { compose, errorBoundary, hooks, HttpError, sendError, serverTimeouts } from 'http-onion'

let maintenance = false

const app = compose(
  errorBoundary(),
  hooks({
    before: (req, res) => {
      if (maintenance && req.url !== '/maintenance/off') {
        sendError(
          req,
          res,
          new HttpError(503, 'Down for maintenance', { expose: true, headers: { 'retry-after': '60' } }),
        )
      }
    },
    after: (_req, res) => {
      if (res.statusCode >= 400) res.setHeader('cache-control', 'no-store')
      res.setHeader('x-served-by', 'api-1')
    },
    teardown: (req, _res, info) => console.log(`${req.method} ${req.url} ${info.status} ${info.outcome}`),
  }),
)((req, res) => {
  if (req.url === '/maintenance/on') maintenance = true
  if (req.url === '/maintenance/off') maintenance = false
  res.end(`maintenance ${maintenance ? 'on' : 'off'}\n`)
})

serverTimeouts(createServer(app)).listen(3000)

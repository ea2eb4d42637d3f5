// mount(): a sub-stack with its own middleware under a prefix, which it sees stripped
// (docs/middleware/mount.md).
import { createServer } from 'node:http'
import {
  compose,
  errorBoundary,
  getMountPath,
  getOriginalUrl,
  hooks,
  HttpError,
  mount,
  sendError,
  serverTimeouts,
  tryGetOriginalUrl,
} from 'http-onion'

const admin = compose(
  hooks({
    before: (req, res) => {
      if (req.headers.authorization !== 'Bearer admin-token') sendError(req, res, new HttpError(401))
    },
  }),
)((req, res) => {
  res.end(`admin route ${req.url}, mounted at ${getMountPath(req)}, requested as ${getOriginalUrl(req)}\n`)
})

const app = compose(
  errorBoundary(),
  hooks({ teardown: (req, _res, info) => console.log(`${tryGetOriginalUrl(req) ?? req.url} ${info.status}`) }),
  mount('/admin', admin),
)((req, res) => res.end(`public route ${req.url}\n`))

serverTimeouts(createServer(app)).listen(3000)

// The core primitives in one runnable program (docs/core.md).
import { createServer } from 'node:http'
import { createGzip } from 'node:zlib'
import { compose, serverTimeouts, clientIp } from 'http-onion'
import { defineMiddleware, defineState, onResponseEnd, onResponseStart, transformBody } from 'http-onion/core'

// Typed request state: the key carries the type, so readers need no cast.
const tenant = defineState<string>('tenant', 'tenantFromHost()')

const tenantFromHost = defineMiddleware(
  { name: 'tenantFromHost' },
  (next) =>
    function tenantHandler(req, res) {
      tenant.set(req, (req.headers.host ?? 'default').split('.')[0]!)
      return next(req, res)
    },
)

// Response-start listeners see and may change the status and every header.
const tenantHeader = defineMiddleware(
  { name: 'tenantHeader', inside: [{ name: 'tenantFromHost', reason: 'it reads the tenant that layer sets' }] },
  (next) =>
    function tenantHeaderHandler(req, res) {
      onResponseStart(res, (res) => res.setHeader('x-tenant', tenant.get(req)))
      return next(req, res)
    },
)

// Response-end listeners learn how the exchange ended, when it ended.
const endLog = defineMiddleware(
  { name: 'endLog' },
  (next) =>
    function endLogHandler(req, res) {
      onResponseEnd(res, (info) =>
        console.log(
          JSON.stringify({ ip: clientIp(req), status: info.status, outcome: info.outcome, bytes: info.bytesWritten }),
        ),
      )
      return next(req, res)
    },
)

// transformBody decides at response start, holding back at most 1 KiB to see small bodies whole.
const gzipLargeBodies = defineMiddleware(
  { name: 'gzipLargeBodies' },
  (next) =>
    function gzipHandler(req, res) {
      transformBody(
        res,
        (res, body) => {
          if (!body.hasBody || (body.length !== undefined && body.length < 1024)) return null
          res.setHeader('content-encoding', 'gzip')
          return createGzip()
        },
        { holdBack: 1024 },
      )
      return next(req, res)
    },
)

const stack = compose(endLog, tenantFromHost, tenantHeader, gzipLargeBodies)
console.log(stack.explain())
serverTimeouts(createServer(stack((req, res) => res.end(req.url === '/big' ? 'x'.repeat(4096) : 'small')))).listen(3000)

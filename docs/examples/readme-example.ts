import { createServer } from 'node:http'
import { compose, defineMiddleware, onResponseEnd, onResponseStart } from '../../lib/index.js'

// A layer is (next) => handler. Headers go on at response start, whatever the handler does.
const poweredBy = defineMiddleware({ name: 'poweredBy' }, (next) => function poweredByHandler(req, res) {
  onResponseStart(res, (res) => res.setHeader('x-powered-by', 'onions'))
  return next(req, res)
})

// The exchange is logged when it is over (finished, aborted or failed), not when the handler returns.
const logEnd = defineMiddleware({ name: 'logEnd' }, (next) => function logEndHandler(req, res) {
  onResponseEnd(res, (info) => console.log(req.method, req.url, info.status, info.outcome, `${info.durationMs.toFixed(1)}ms`))
  return next(req, res)
})

const stack = compose(logEnd, poweredBy)
createServer(stack((_req, res) => res.end('hello\n'))).listen(3000)

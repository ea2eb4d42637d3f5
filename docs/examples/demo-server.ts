/**
 * The demo server: `npm start`. The production stack around a small router, listening on
 * PORT (default 3000). It prints its URL and the stack's explain().
 */
import { createServer, type Server } from 'node:http'
import { pathToFileURL } from 'node:url'
import { HttpError, sendError, type RawHandler } from '../../lib/index.js'
import { productionStack } from './production-stack.js'

/** The demo's routes: a JSON greeting, a slow stream, a health check. */
export const demoRoutes: RawHandler = (req, res) => {
  const path = (req.url ?? '/').split('?')[0]
  if (path === '/') {
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.end(JSON.stringify({ hello: 'http-onion', routes: ['/', '/stream', '/health'] }))
  } else if (path === '/health') {
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    res.end('ok')
  } else if (path === '/stream') {
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    let n = 0
    const timer = setInterval(() => {
      res.write(`line ${++n}\n`)
      if (n === 5) { clearInterval(timer); res.end() }
    }, 50)
    res.once('close', () => clearInterval(timer))
  } else {
    sendError(req, res, new HttpError(404, `No route for ${req.method} ${path}`))
  }
}

/** Build the demo server (not yet listening) and the text explaining its stack. */
export function createDemoServer(): { server: Server; explain: string } {
  const stack = productionStack()
  const handler = stack(demoRoutes)
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      // The production stack's error boundary answers errors; this is the last resort.
      if (!res.headersSent) sendError(req, res, new HttpError(500, undefined, { cause: err }))
      else res.destroy(err as Error)
    })
  })
  return { server, explain: stack.explain() }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { server, explain } = createDemoServer()
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    const address = server.address()
    const actual = typeof address === 'object' && address ? address.port : port
    console.log(`http-onion demo listening on http://${process.env.HOST ?? "127.0.0.1"}:${actual}/`)
    console.log(explain)
  })
  const stop = () => server.close(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

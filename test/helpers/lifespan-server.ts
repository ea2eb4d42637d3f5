/**
 * A server process for the lifespan's process tests (test/core/lifespan-process.test.ts):
 * the lifespan outermost, request ids and an access log to a file, SIGTERM graceful. It
 * reports its port over IPC and what its handlers saw on stdout, one JSON object a line.
 *
 * Environment: LOG (the access log file), DRAIN_MS, GRACE_MS, CLOSE_DELAY_MS.
 * Routes: /work?ms=N answers 4 KiB after N ms; /slow answers only when its signal aborts
 * (it never does so on its own); /readyz is the readiness answer.
 */
import { createWriteStream } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { accessLog, compose, getRequestSignal, lifespan, requestId, serverTimeouts } from '../../lib/index.js'

const say = (fields: object): void => {
  process.stdout.write(`${JSON.stringify(fields)}\n`)
}

const BODY = 'x'.repeat(4096)

const life = lifespan({
  signals: ['SIGTERM'],
  drainTimeoutMs: Number(process.env.DRAIN_MS ?? 5000),
  gracePeriodMs: Number(process.env.GRACE_MS ?? 2000),
  closeDelayMs: Number(process.env.CLOSE_DELAY_MS ?? 0),
  abortTimeoutMs: 1000,
  shutdown: [
    function closeResources() {
      say({ event: 'shutdown hook' })
    },
  ],
})

const app = compose(
  life,
  requestId(),
  accessLog({ sink: createWriteStream(process.env.LOG!, { flags: 'a' }) }),
)(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/readyz') return life.readiness(req, res)
  if (url.pathname === '/slow') {
    const signal = getRequestSignal(req)
    say({ event: 'slow started' })
    signal.addEventListener('abort', () =>
      say({ event: 'slow aborted', kind: (signal.reason as { kind?: string }).kind }),
    )
    return
  }
  const ms = Number(url.searchParams.get('ms') ?? 0)
  if (ms > 0) await new Promise((ok) => setTimeout(ok, ms))
  res.setHeader('content-type', 'text/plain')
  res.end(BODY)
})

process.on('SIGTERM', () => say({ event: 'sigterm', ready: life.ready }))
const server = await life.serve(serverTimeouts(createServer(app)), 0, '127.0.0.1')
process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port })

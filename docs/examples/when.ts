// when() / unless(): layers for some paths only, matched on the normal form of the path
// (docs/middleware/when.md).
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { compose, errorBoundary, hooks, serverTimeouts, timeout, tryGetRequestSignal, unless, when } from 'http-onion'
import { normalizePath } from 'http-onion/core'

const app = compose(
  errorBoundary(),
  // Health checks are polled every second: keep them out of the log.
  unless({ paths: ['/health'] }, hooks({ teardown: (req, _res, info) => console.log(`${req.url} ${info.status}`) })),
  // The API has a tight deadline; page renders do not.
  when({ paths: ['/api/*'] }, timeout({ ms: 100 })),
)(async (req, res) => {
  // A router that, like many, decodes the path and ignores case: the filters see what it sees.
  const path = normalizePath(req.url)?.toLowerCase() ?? ''
  // Only /api requests have a signal: timeout() ran for them alone.
  if (path.endsWith('/slow')) await sleep(300, undefined, { signal: tryGetRequestSignal(req) })
  res.end(`done ${path}\n`)
})

serverTimeouts(createServer(app)).listen(3000)

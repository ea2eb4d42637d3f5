// Node's own refusals (a malformed request line, a head over 16 KiB, a head too slow) in the
// library's JSON shape, with one access-log line each (docs/server.md).
import { createServer } from 'node:http'
import { accessLog, answerClientErrors, compose, errorBoundary, requestId, serverTimeouts } from 'http-onion'

const log = accessLog()
const server = serverTimeouts(createServer(compose(errorBoundary(), requestId(), log)((_req, res) => res.end('ok'))))
answerClientErrors(server, { log })
server.listen(3000, '127.0.0.1')

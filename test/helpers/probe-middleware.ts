/**
 * Small middleware that make each adapter's behaviour visible from outside: the same three
 * are mounted through Express, Koa and Fastify, so the adapters are held to one standard.
 */
import { createGzip } from 'node:zlib'
import { HttpError, sendError } from '../../lib/index.js'
import { defineMiddleware, onResponseStart, transformBody } from '../../lib/core.js'

/** Sets `x-tagged: <status>` at response start: proves the start listeners ran, and when. */
export const tagged = defineMiddleware(
  { name: 'tagged' },
  (next) =>
    function taggedHandler(req, res) {
      onResponseStart(res, (res) => res.setHeader('x-tagged', String(res.statusCode)))
      return next(req, res)
    },
)

/** Answers 401 after a turn of the event loop unless `x-key: open`: an asynchronous short-circuit. */
export const gateKeeper = defineMiddleware(
  { name: 'gateKeeper' },
  (next) =>
    async function gateKeeperHandler(req, res) {
      await new Promise((ok) => setImmediate(ok))
      if (req.headers['x-key'] !== 'open') {
        sendError(req, res, new HttpError(401))
        return
      }
      return next(req, res)
    },
)

/** gzips every body through transformBody: proves writes pass through the layer. */
export const gzipAll = defineMiddleware(
  { name: 'gzipAll' },
  (next) =>
    function gzipAllHandler(req, res) {
      transformBody(res, (res) => {
        res.setHeader('content-encoding', 'gzip')
        return createGzip()
      })
      return next(req, res)
    },
)

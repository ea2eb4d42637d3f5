// Adapters: a Connect/Express middleware (Express's JSON body parser) inside a raw
// http-onion stack with fromExpress(); its next(err) reaches errorBoundary (docs/adapters.md).
import { createServer, type IncomingMessage } from 'node:http'
import express from 'express'
import { bodyLimit, compose, errorBoundary, requestId, serverTimeouts } from 'http-onion'
import { fromExpress } from 'http-onion/express'

const app = compose(
  errorBoundary(),
  requestId(),
  bodyLimit({ limit: 64 * 1024 }),
  fromExpress(express.json(), 'express.json'),
)((req, res) => {
  const { body } = req as IncomingMessage & { body?: unknown }
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ received: body }))
})

console.log(compose(errorBoundary(), fromExpress(express.json(), 'express.json')).explain())
serverTimeouts(createServer(app)).listen(3000)

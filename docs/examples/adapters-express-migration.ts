// Adapters: moving an Express app from cors, compression and helmet to http-onion, one
// line per middleware; and one toExpress per layer, which works the same (docs/adapters.md).
import { createServer } from 'node:http'
import express from 'express'
import { compression, cors, securityHeaders, serverTimeouts } from 'http-onion'
import { toExpress } from 'http-onion/express'

const app = express()

// app.use(helmet())
app.use(toExpress(securityHeaders()))
// app.use(cors({ origin: ['https://app.example.com'], credentials: true }))
app.use(toExpress(cors({ origins: ['https://app.example.com'], credentials: true })))
// app.use(compression())
app.use(toExpress(compression()))

app.get('/items', (_req, res) => {
  res.json({ items: Array.from({ length: 100 }, (_, id) => ({ id, name: `item ${id}` })) })
})

serverTimeouts(createServer(app)).listen(3000, '127.0.0.1')

/// <reference path="../../test/types/frameworks.d.ts" />
/**
 * Each adapter's overhead against the framework's bare route, on the 1 KB JSON route: the
 * framework alone; requestId() and securityHeaders() mounted one adapter each; and (Express)
 * the same two layers composed into one adapter. The layers are cheap on purpose, so what
 * differs from the bare route is mostly the adapter and one response-start listener pass.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import { compose, requestId, securityHeaders, type Middleware } from '../../lib/index.js'
import { toExpress } from '../../adapters/express.js'
import { toFastify } from '../../adapters/fastify.js'
import { toKoa } from '../../adapters/koa.js'
import { listen, smallJson, type Comparison, type Scenario } from '../common.js'

// Built per server: each scenario runs in its own process.
const layers = (): Middleware[] => [requestId(), securityHeaders()]

/** An adapted server must really carry both layers' headers: checked once before it is measured. */
async function verified(server: Server): Promise<Server> {
  const { port } = server.address() as AddressInfo
  const res = await fetch(`http://127.0.0.1:${port}/json`)
  await res.arrayBuffer()
  const missing = ['x-request-id', 'x-content-type-options'].filter((name) => !res.headers.has(name))
  if (res.status !== 200 || missing.length > 0)
    throw new Error(`adapter scenario not comparable: status ${res.status}, missing ${missing.join(', ')}`)
  return server
}

function expressServer(mount: 'none' | 'each' | 'composed'): Promise<Server> {
  const app = express()
  app.disable('x-powered-by')
  if (mount === 'each') for (const layer of layers()) app.use(toExpress(layer))
  if (mount === 'composed') app.use(toExpress(compose(...layers())))
  app.get('/json', (_req, res) => {
    res.type('application/json').send(smallJson)
  })
  return listen(app)
}

function koaServer(adapted: boolean): Promise<Server> {
  const app = new Koa()
  if (adapted) app.use(toKoa(compose(...layers())) as never)
  app.use(async (ctx) => {
    if (ctx.path !== '/json') return
    ctx.type = 'application/json'
    ctx.body = smallJson
  })
  return listen(app.callback())
}

async function fastifyServer(adapted: boolean): Promise<Server> {
  const app = Fastify()
  if (adapted) await app.register(toFastify(compose(...layers())) as never)
  app.get('/json', (_request, reply) => {
    reply.type('application/json').send(smallJson)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app.server
}

export const scenarios: Record<string, Scenario> = {
  'adapters-express-bare': { description: 'Express 5, the route alone', start: () => expressServer('none') },
  'adapters-express-each': {
    description: 'Express 5 + toExpress(requestId()) + toExpress(securityHeaders())',
    start: () => expressServer('each').then(verified),
  },
  'adapters-express-composed': {
    description: 'Express 5 + toExpress(compose(requestId(), securityHeaders()))',
    start: () => expressServer('composed').then(verified),
  },
  'adapters-koa-bare': { description: 'Koa 3, the route alone', start: () => koaServer(false) },
  'adapters-koa': {
    description: 'Koa 3 + toKoa(compose(requestId(), securityHeaders()))',
    start: () => koaServer(true).then(verified),
  },
  'adapters-fastify-bare': { description: 'Fastify 5, the route alone', start: () => fastifyServer(false) },
  'adapters-fastify': {
    description: 'Fastify 5 + toFastify(compose(requestId(), securityHeaders()))',
    start: () => fastifyServer(true).then(verified),
  },
}

const expect = { status: 200 }

export const comparisons: Comparison[] = [
  {
    name: 'adapters: Express 5 bare route vs toExpress, one per layer and composed (1 KB JSON)',
    route: '/json',
    baseline: 'adapters-express-bare',
    scenarios: ['adapters-express-bare', 'adapters-express-each', 'adapters-express-composed'],
    expect,
  },
  {
    name: 'adapters: Koa 3 bare route vs toKoa (1 KB JSON)',
    route: '/json',
    baseline: 'adapters-koa-bare',
    scenarios: ['adapters-koa-bare', 'adapters-koa'],
    expect,
  },
  {
    name: 'adapters: Fastify 5 bare route vs toFastify (1 KB JSON)',
    route: '/json',
    baseline: 'adapters-fastify-bare',
    scenarios: ['adapters-fastify-bare', 'adapters-fastify'],
    expect,
  },
]

import { createServer } from 'node:http'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import Koa from 'koa'
import Koa2 from 'koa2'
import t, { type Test } from 'tap'
import { toKoa } from '../../adapters/koa.js'
import { listen } from '../helpers/serve.js'
import { httpRequest } from '../helpers/http.js'
import { gateKeeper, gzipAll, tagged } from '../helpers/probe-middleware.js'

for (const [version, Make] of [
  ['Koa 3', Koa],
  ['Koa 2', Koa2],
] as const) {
  async function app(t: Test, ...layers: Array<ReturnType<typeof toKoa>>) {
    const application = new Make()
    application.silent = true
    const errors: Error[] = []
    application.on('error', (err) => {
      errors.push(err)
    })
    application.use(async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        ctx.status = (err as { status?: number }).status ?? 500
        ctx.body = { handledBy: 'koa', message: (err as Error).message }
      }
    })
    for (const layer of layers) application.use(layer as never)
    application.use(async (ctx) => {
      if (ctx.path === '/stream') ctx.body = Readable.from(['a', 'b', 'c'])
      else if (ctx.path === '/json') ctx.body = { big: 'q'.repeat(400) }
      else if (ctx.path === '/throw') throw Object.assign(new Error('route failed'), { status: 409 })
      else ctx.body = 'from koa'
    })
    return { url: (await listen(t, createServer(application.callback()))).url, errors }
  }

  t.test(`toKoa() on ${version}: response-start listeners fire when Koa writes, for bodies and streams`, async (t) => {
    const { url } = await app(t, toKoa(tagged))
    for (const [path, body] of [
      ['/', 'from koa'],
      ['/stream', 'abc'],
    ] as const) {
      const res = await httpRequest(`${url}${path}`)
      t.equal(res.headers['x-tagged'], '200', path)
      t.equal(res.text, body, path)
    }
  })

  t.test(
    `toKoa() on ${version}: a middleware that answers sets ctx.respond = false; Koa does not write twice`,
    async (t) => {
      const { url, errors } = await app(t, toKoa(gateKeeper))
      const refused = await httpRequest(url)
      t.equal(refused.status, 401)
      t.match(JSON.parse(refused.text), { code: 'unauthorized' })
      t.same(errors, [], 'no "headers already sent" from Koa')
      t.equal((await httpRequest(url, { headers: { 'x-key': 'open' } })).text, 'from koa')
    },
  )

  t.test(`toKoa() on ${version}: errors from the chain below reach Koa's error handling`, async (t) => {
    const { url } = await app(t, toKoa(tagged))
    const res = await httpRequest(`${url}/throw`)
    t.equal(res.status, 409)
    t.match(JSON.parse(res.text), { handledBy: 'koa', message: 'route failed' })
    t.equal(res.headers['x-tagged'], '409')
  })

  t.test(`toKoa() on ${version}: a body transform applies to what Koa writes`, async (t) => {
    const { url } = await app(t, toKoa(gzipAll))
    const res = await httpRequest(`${url}/json`)
    t.equal(res.headers['content-encoding'], 'gzip')
    t.same(JSON.parse(gunzipSync(res.body).toString()), { big: 'q'.repeat(400) })
  })
}

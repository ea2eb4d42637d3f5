import t from 'tap'
import { apiKey, compose, cors, jwtAuth, type CorsOptions, type Middleware, type RawHandler } from '../../lib/index.js'
import { rawRequest } from '../helpers/raw.js'
import { serve } from '../helpers/serve.js'

// What jwtAuth and apiKey let through without credentials, over raw sockets: the exact
// header lines matter (two Origin lines are not one).

const APP = 'https://app.example'
const SECRET = 'a-very-long-test-secret-of-at-least-32-bytes!'
const KEY = 'key-0123456789abcdef-0123'

const auths: Record<string, (publicPaths: string[]) => Middleware> = {
  jwtAuth: (publicPaths) => jwtAuth({ secret: SECRET, publicPaths }),
  apiKey: (publicPaths) => apiKey({ keys: [KEY], publicPaths }),
}

/** The protected handler: what no request without credentials may read. */
function protectedHandler(): { handler: RawHandler; reached: () => number } {
  let reached = 0
  return {
    handler: (_req, res) => {
      reached++
      res.end('the admin payload')
    },
    reached: () => reached,
  }
}

const acrm = ['Access-Control-Request-Method', 'GET'] as const
const origin = (value: string) => ['Origin', value] as const

for (const [name, auth] of Object.entries(auths)) {
  for (const publicPaths of [[], ['/public/*']]) {
    const label = `${name}()${publicPaths.length ? ' with publicPaths' : ''}`

    t.test(
      `${label}: an OPTIONS with two Origin lines is refused by cors(), never taken for a preflight`,
      async (t) => {
        for (const preflightContinue of [false, true]) {
          const { handler, reached } = protectedHandler()
          const url = await serve(t, compose(cors({ origins: [APP], preflightContinue }), auth(publicPaths))(handler))
          for (const origins of [
            [APP, APP],
            [APP, 'https://evil.test'],
          ]) {
            const res = await rawRequest(url, 'OPTIONS', '/admin/stats', [...origins.map(origin), acrm])
            t.equal(res.status, 400, `preflightContinue ${preflightContinue}: ${origins.join(' + ')}`)
            t.notMatch(res.body.toString(), /admin payload/)
          }
          t.equal(reached(), 0)
        }
      },
    )

    t.test(`${label}: without cors() in the stack, a preflight-shaped OPTIONS must authenticate`, async (t) => {
      const { handler, reached } = protectedHandler()
      const url = await serve(t, compose(auth(publicPaths))(handler))
      for (const origins of [[APP], [APP, APP]]) {
        const res = await rawRequest(url, 'OPTIONS', '/admin/stats', [...origins.map(origin), acrm])
        t.equal(res.status, 401, `${origins.length} Origin line(s)`)
      }
      t.equal(reached(), 0)
    })

    t.test(`${label}: with preflightContinue, only preflights cors() validated pass without credentials`, async (t) => {
      const { handler, reached } = protectedHandler()
      const options: CorsOptions = { origins: [APP], methods: ['GET'], preflightContinue: true }
      const url = await serve(t, compose(cors(options), auth(publicPaths))(handler))
      const valid = await rawRequest(url, 'OPTIONS', '/admin/stats', [origin(APP), acrm])
      t.equal(valid.status, 200, 'a validated preflight reaches the handler')
      t.equal(valid.headers['access-control-allow-origin'], APP)
      t.equal(reached(), 1)
      const refusedBy = {
        'an origin not allowed': [origin('https://evil.test'), acrm],
        'a method not allowed': [origin(APP), ['Access-Control-Request-Method', 'DELETE'] as const],
        'a header not allowed': [origin(APP), acrm, ['Access-Control-Request-Headers', 'x-secret'] as const],
        'two Access-Control-Request-Method lines': [origin(APP), acrm, acrm],
      }
      for (const [why, headers] of Object.entries(refusedBy)) {
        const res = await rawRequest(url, 'OPTIONS', '/admin/stats', headers)
        t.equal(res.status, 401, why)
        t.notMatch(res.body.toString(), /admin payload/, why)
      }
      t.equal(reached(), 1)
    })

    t.test(`${label}: a preflight cors() answers itself never reaches the layer or the handler`, async (t) => {
      const { handler, reached } = protectedHandler()
      const url = await serve(t, compose(cors({ origins: [APP] }), auth(publicPaths))(handler))
      t.equal((await rawRequest(url, 'OPTIONS', '/admin/stats', [origin(APP), acrm])).status, 204)
      t.equal((await rawRequest(url, 'OPTIONS', '/admin/stats', [origin('https://evil.test'), acrm])).status, 403)
      t.equal(reached(), 0)
    })
  }
}

import type { IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import {
  compose,
  getMountPath,
  getOriginalUrl,
  hooks,
  mount,
  tryGetMountPath,
  tryGetOriginalUrl,
  type Middleware,
  type MountOptions,
  type RawHandler,
} from '../../../lib/index.js'
import { onResponseEnd, originalUrlState } from '../../../lib/core.js'
import { parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'

const raw = (url: string, target: string, method = 'GET') =>
  rawExchange(url, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).then(parseRawResponse)

/** The sub-stack's view: what it routes on, where it is mounted, what the client sent. */
const subView: RawHandler = (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ url: req.url, mountPath: getMountPath(req), original: originalUrlState.tryGet(req) }))
}
const outer: RawHandler = (req, res) => res.end(`outer ${req.url} ${tryGetMountPath(req) ?? '-'}`)

async function mounted(t: Test, prefix = '/api', options?: MountOptions) {
  return serve(t, compose(mount(prefix, subView, options))(outer))
}

t.test('mount(): strips the prefix on a segment boundary, keeps the query and the original URL', async (t) => {
  const url = await mounted(t)
  const cases: Array<[string, string]> = [
    ['/api/users?page=2', '/users?page=2'],
    ['/api', '/'],
    ['/api?x=1', '/?x=1'],
    ['/api/', '/'],
    ['/api/users/', '/users/'],
    ['/API/Users', '/Users'],
  ]
  for (const [target, seen] of cases) {
    const body = JSON.parse((await raw(url, target)).body.toString())
    t.same(body, { url: seen, mountPath: '/api', original: target }, target)
  }
  t.equal((await raw(url, '/apix/users')).body.toString(), 'outer /apix/users -', 'not a segment boundary')
  t.equal((await raw(url, '/')).body.toString(), 'outer / -')
})

t.test('mount(): targets that need normalising are matched and passed on in normal form', async (t) => {
  const url = await mounted(t)
  const cases: Array<[string, string]> = [
    ['//api/users', '/users'],
    ['/%61pi/users', '/users'],
    ['/x/../api/users?q', '/users?q'],
    ['/api//users', '/users'],
    ['/api/caf%C3%A9', '/caf%C3%A9'],
    ['/api/a%3Fb', '/a%3Fb'],
    ['/api/a%2Fb', '/a/b'],
    ['/api/%40me:x', '/@me:x'],
    ['/api/.', '/'],
    ['http://x/api/users', '/users'],
  ]
  for (const [target, seen] of cases) {
    const body = JSON.parse((await raw(url, target)).body.toString())
    t.equal(body.url, seen, target)
    t.equal(body.original, target)
  }
  t.equal(
    (await raw(url, '/api/../admin')).body.toString(),
    'outer /api/../admin -',
    'a detour out of the prefix is not ours',
  )
  t.equal(
    (await raw(url, '/api%zz')).body.toString(),
    'outer /api%zz -',
    'an unnormalisable target goes to the outer stack',
  )
})

t.test('mount(): caseSensitive matches the prefix exactly', async (t) => {
  const url = await mounted(t, '/api', { caseSensitive: true })
  t.equal(JSON.parse((await raw(url, '/api/x')).body.toString()).url, '/x')
  t.equal((await raw(url, '/API/x')).body.toString(), 'outer /API/x -')
  t.equal((await raw(url, '/%41PI/x')).body.toString(), 'outer /%41PI/x -')
})

t.test('mount(): nested mounts accumulate the mount path and keep the outermost original', async (t) => {
  const url = await serve(t, compose(mount('/api', compose(mount('/v2', subView))(outer)))(outer))
  t.same(JSON.parse((await raw(url, '/api/v2/users')).body.toString()), {
    url: '/users',
    mountPath: '/api/v2',
    original: '/api/v2/users',
  })
  t.equal((await raw(url, '/api/v1/users')).body.toString(), 'outer /v1/users /api')
})

t.test('getMountPath() / getOriginalUrl(): read inside a mount; outside one they throw, naming mount()', async (t) => {
  const read = (get: (req: IncomingMessage) => string, req: IncomingMessage): string => {
    try {
      return get(req)
    } catch (err) {
      return (err as Error).message
    }
  }
  const view: RawHandler = (r, res) => {
    res.end(
      JSON.stringify({
        mountPath: read(getMountPath, r),
        original: read(getOriginalUrl, r),
        tryMountPath: tryGetMountPath(r) ?? null,
        tryOriginal: tryGetOriginalUrl(r) ?? null,
      }),
    )
  }
  const url = await serve(t, compose(mount('/api', view))(view))
  t.same(JSON.parse((await raw(url, '/api/users?x')).body.toString()), {
    mountPath: '/api',
    original: '/api/users?x',
    tryMountPath: '/api',
    tryOriginal: '/api/users?x',
  })
  t.same(JSON.parse((await raw(url, '/home')).body.toString()), {
    mountPath: 'getMountPath(): no mountPath on this request; mount mount() before this handler.',
    original: 'getOriginalUrl(): no originalUrl on this request; mount mount() before this handler.',
    tryMountPath: null,
    tryOriginal: null,
  })
})

t.test('mount(): the sub-stack has its own middleware, which never runs for other paths', async (t) => {
  const ran: string[] = []
  const sub = compose(
    hooks({
      before: (req) => {
        ran.push(req.url!)
      },
    }),
  )(subView)
  const url = await serve(t, compose(mount('/admin', sub))(outer))
  await raw(url, '/admin/panel')
  await raw(url, '/public')
  t.same(ran, ['/panel'])
})

t.test('mount(): req.url is not restored: outer end listeners read the original from state', async (t) => {
  const seen: string[] = []
  const logger: Middleware = (next) => (req, res) => {
    onResponseEnd(res, () => {
      seen.push(`${req.url} ${originalUrlState.tryGet(req) ?? req.url}`)
    })
    return next(req, res)
  }
  const url = await serve(t, compose(logger, mount('/api', subView))(outer))
  await raw(url, '/api/users')
  await raw(url, '/home')
  for (let i = 0; i < 1000 && seen.length < 2; i++) await new Promise((ok) => setTimeout(ok, 2))
  t.same(seen, ['/users /api/users', '/home /home'])
})

t.test('mount(): passes responses through: HEAD, 204, a throw propagates', async (t) => {
  const sub: RawHandler = (req, res) => {
    if (req.url === '/204') {
      res.statusCode = 204
      res.end()
    } else if (req.url === '/throw') throw new Error('boom')
    else res.end('sub')
  }
  const url = await serve(t, compose(mount('/s', sub))(outer))
  t.equal((await raw(url, '/s/204')).status, 204)
  t.equal((await raw(url, '/s', 'HEAD')).body.length, 0)
  t.equal((await raw(url, '/s/throw')).status, 599)
})

t.test('mount(): explain() names the prefix and the handler', async (t) => {
  t.match(
    compose(
      mount('/admin', function adminRouter(_q, res) {
        res.end()
      }),
    ).explain(),
    /mount \(\/admin → adminRouter\)/,
  )
})

t.test('mount(): config: rejects bad prefixes and handlers', async (t) => {
  const bad = (prefix: string, message: RegExp, handler: RawHandler = outer, options?: MountOptions) =>
    t.throws(() => mount(prefix, handler, options), { name: 'ConfigError', message })
  bad(
    'api',
    /mount\(\): option "prefix" must be a path starting with "\/", without query, fragment or wildcard; received "api" \(string\)\. Write "\/api"\./,
  )
  bad(
    '/api/*',
    /option "prefix" must be a path starting with "\/", without query, fragment or wildcard; received "\/api\/\*"/,
  )
  bad('/api?x', /option "prefix" must be a path starting/)
  bad('/', /option "prefix" must be a normalised path other than "\/".*Mounting at "\/" strips nothing/)
  bad('/a/../b', /option "prefix" must be a normalised path.*Write "\/b"\./)
  bad('//api', /Write "\/api"\./)
  bad('/%zz', /option "prefix" must be a normalised path/)
  bad(5 as never, /option "prefix" must be a path starting with "\/"/)
  bad(
    '/api',
    /option "handler" must be a handler \(req, res\) => \.\.\.; compose\(\.\.\.\)\(router\) makes one; received null/,
    null as never,
  )
  bad('/api', /option "caseSensitive" must be true or false/, outer, { caseSensitive: 1 as never })
  bad('/api', /^mount\(\): unknown option "strict"; known options are caseSensitive\.$/, outer, {
    strict: true,
  } as never)
  t.doesNotThrow(() => mount('/api/', outer), 'a trailing slash is allowed')
})

import t, { type Test } from 'tap'
import {
  compose,
  getSession,
  memorySessionStore,
  session,
  tryGetSession,
  type RawHandler,
  type SessionRecord,
  type SessionStore,
} from '../../../lib/index.js'
import { setClientIdentity } from '../../../lib/core.js'
import { createCookieCodec } from '../../../lib/middleware/session/cookie-codec.js'
import { httpRequest } from '../../helpers/http.js'
import { serve } from '../../helpers/serve.js'
import { CookieJar, sessionApp } from '../../helpers/session-client.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'
import { silenceWarningOutput } from '../../helpers/wait.js'

const SECRET = 'session-secret-of-at-least-32-bytes!!'
const OLD_SECRET = 'old-session-secret-of-at-least-32-bytes'
const T0 = 1_800_000_000_000

function clock(): { now: () => number; advance: (ms: number) => void } {
  let at = T0
  return {
    now: () => at,
    advance: (ms) => {
      at += ms
    },
  }
}

async function cookieApp(
  t: Test,
  options: Parameters<typeof session>[0],
  handler: RawHandler = sessionApp,
): Promise<string> {
  return serve(t, compose(session(options))(handler))
}

t.test('session() cookie: no data, no cookie; data gives a signed cookie with safe attributes', async (t) => {
  const c = clock()
  const url = await cookieApp(t, { secrets: [SECRET], now: c.now })
  const jar = new CookieJar()
  const first = await jar.get(`${url}/read`)
  t.same(first.setCookie, [])
  t.same(first.body, { data: {}, id: null, isNew: true, user: null })
  const set = await jar.get(`${url}/set?theme=dark`)
  t.equal(set.setCookie.length, 1)
  t.match(
    set.setCookie[0],
    /^session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=7200; Path=\/; HttpOnly; SameSite=Lax$/,
  )
  const res = await fetch(`${url}/read`, { headers: { cookie: jar.header() } })
  t.equal(res.headers.get('cache-control'), null, 'no Set-Cookie: caching left alone')
  t.same(((await res.json()) as { data: unknown }).data, { theme: 'dark' })
  const again = await jar.get(`${url}/set?theme=dark`)
  t.same(again.setCookie, [], 'setting the same value changes nothing')
  const withCache = await fetch(`${url}/set?theme=light`, { headers: { cookie: jar.header() } })
  t.equal(withCache.headers.get('cache-control'), 'private', 'a response setting a session cookie is private')
})

t.test('session() cookie: counts across requests; the data is readable but not forgeable', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET] })
  const jar = new CookieJar()
  for (let i = 1; i <= 3; i++) {
    await jar.get(`${url}/incr`)
    t.same((await jar.get(`${url}/read`)).body.data, { count: i })
  }
  const decoded = Buffer.from(jar.cookies.get('session')!.split('.')[0]!, 'base64url').toString()
  t.match(decoded, /^\d+\|\d+\|\{"count":3\}$/, 'signed, not encrypted: created|seen|data')
})

t.test(
  'session() cookie: tampered, truncated, unsigned and swapped cookies give a fresh session and are cleared',
  async (t) => {
    const url = await cookieApp(t, { secrets: [SECRET] })
    const alice = new CookieJar()
    await alice.get(`${url}/set?user=alice`)
    const bob = new CookieJar()
    await bob.get(`${url}/set?user=bob`)
    const a = alice.cookies.get('session')!
    const b = bob.cookies.get('session')!
    const [bodyA, sigA] = a.split('.') as [string, string]
    const [bodyB, sigB] = b.split('.') as [string, string]
    const forgedBody = Buffer.from(Buffer.from(bodyA, 'base64url').toString().replace('alice', 'admin')).toString(
      'base64url',
    )
    const variants: Record<string, string> = {
      'tampered body': `${forgedBody}.${sigA}`,
      'flipped character': `${bodyA.slice(0, 4)}${bodyA[4] === 'x' ? 'y' : 'x'}${bodyA.slice(5)}.${sigA}`,
      truncated: a.slice(0, -5),
      'signature removed': bodyA,
      'unsigned JSON': Buffer.from('{"user":"admin"}').toString('base64url'),
      'signatures swapped': `${bodyA}.${sigB}`,
      'bodies swapped': `${bodyB}.${sigA}`,
      'signed by another secret': createCookieCodec(
        'x',
        'session',
        ['another-secret-of-at-least-32-bytes!!'],
        false,
      ).seal(`${T0}|${T0}|{"user":"admin"}`),
      empty: '',
      garbage: '%%%',
    }
    for (const [name, value] of Object.entries(variants)) {
      const jar = new CookieJar()
      jar.cookies.set('session', value)
      const res = await jar.get(`${url}/read`)
      t.equal(res.status, 200, name)
      t.same(res.body.data, {}, `${name}: fresh session`)
      t.match(res.setCookie, [/^session=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/], `${name}: cleared`)
    }
  },
)

t.test('session() cookie: a value minted for another cookie name is refused', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET], name: 'prefs' })
  const other = await cookieApp(t, { secrets: [SECRET], name: 'session' })
  const jar = new CookieJar()
  await jar.get(`${other}/set?role=admin`)
  const moved = new CookieJar()
  moved.cookies.set('prefs', jar.cookies.get('session')!)
  t.same((await moved.get(`${url}/read`)).body.data, {})
})

t.test('session() cookie: of several cookies with the name, the first valid one is used', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET] })
  const jar = new CookieJar()
  await jar.get(`${url}/set?who=me`)
  const res = await fetch(`${url}/read`, {
    headers: { cookie: `session=tossed.${'A'.repeat(43)}; session=${jar.cookies.get('session')}` },
  })
  t.same(((await res.json()) as { data: unknown }).data, { who: 'me' })
})

t.test('session() cookie: secret rotation: old cookies are accepted and re-issued with the new secret', async (t) => {
  const before = await cookieApp(t, { secrets: [OLD_SECRET] })
  const during = await cookieApp(t, { secrets: [SECRET, OLD_SECRET] })
  const after = await cookieApp(t, { secrets: [SECRET] })
  const jar = new CookieJar()
  await jar.get(`${before}/set?k=v`)
  const old = jar.snapshot()
  const rotated = await jar.get(`${during}/read`)
  t.same(rotated.body.data, { k: 'v' })
  t.equal(rotated.setCookie.length, 1, 're-issued although nothing changed')
  t.same((await jar.get(`${during}/read`)).setCookie, [], 'once, not on every request')
  t.same((await jar.get(`${after}/read`)).body.data, { k: 'v' }, 'the re-issued cookie works without the old secret')
  t.same((await old.get(`${after}/read`)).body.data, {}, 'a cookie never re-issued dies with the old secret')
})

t.test(
  'session() cookie: absolute and idle timeouts are inside the signed payload; replays after expiry are refused',
  async (t) => {
    const c = clock()
    const url = await cookieApp(t, {
      secrets: [SECRET],
      now: c.now,
      absoluteTimeoutSeconds: 3600,
      idleTimeoutSeconds: 600,
      touchAfterSeconds: 60,
    })
    const jar = new CookieJar()
    const first = await jar.get(`${url}/set?k=v`)
    t.match(first.setCookie[0], /Max-Age=600;/)
    const original = jar.snapshot()
    c.advance(59_000)
    t.same((await jar.get(`${url}/read`)).setCookie, [], 'not touched before touchAfterSeconds')
    c.advance(1_000)
    const touched = await jar.get(`${url}/read`)
    t.match(touched.setCookie, [/Max-Age=600;/], 'touched after touchAfterSeconds: idle time restarts')
    c.advance(599_000)
    t.same((await original.get(`${url}/read`)).body.data, {}, 'the untouched copy is past its idle timeout')
    // Keep the session active (a request every 9 minutes) until the absolute timeout.
    for (let at = 60_000 + 599_000; at < 3_600_000 - 540_000; at += 540_000) {
      t.same((await jar.get(`${url}/read`)).body.data, { k: 'v' })
      c.advance(540_000)
    }
    const near = await jar.get(`${url}/read`)
    t.same(near.body.data, { k: 'v' })
    t.match(near.setCookie[0], /Max-Age=(\d+);/)
    t.ok(Number(/Max-Age=(\d+)/.exec(near.setCookie[0]!)![1]) < 600, 'Max-Age capped by the absolute timeout')
    const replay = jar.snapshot()
    c.advance(600_000)
    const expired = await replay.get(`${url}/read`)
    t.same(expired.body.data, {}, 'past the absolute timeout, however active')
    t.match(expired.setCookie, [/Max-Age=0/])
  },
)

t.test(
  'session(): browserSessionCookie sends no Max-Age or Expires; the absolute timeout still ends the session',
  async (t) => {
    for (const kind of ['cookie', 'store'] as const) {
      const c = clock()
      const url = await cookieApp(t, {
        secrets: [SECRET],
        now: c.now,
        browserSessionCookie: true,
        absoluteTimeoutSeconds: 3600,
        idleTimeoutSeconds: 600,
        touchAfterSeconds: 60,
        ...(kind === 'store' ? { store: memorySessionStore({ now: c.now }) } : {}),
      })
      const jar = new CookieJar()
      const first = await jar.get(`${url}/set?k=v`)
      t.equal(first.setCookie.length, 1, kind)
      t.notMatch(first.setCookie[0], /Max-Age|Expires/i, `${kind}: a browser-session cookie`)
      t.match(first.setCookie[0], /; Path=\/; HttpOnly; SameSite=Lax$/, `${kind}: other attributes kept`)
      // Active every 9 minutes: the idle timeout never strikes, the touches stay session cookies.
      for (let at = 0; at < 3_600_000 - 540_000; at += 540_000) {
        c.advance(540_000)
        const reply = await jar.get(`${url}/read`)
        t.same(reply.body.data, { k: 'v' }, `${kind}: alive at ${at + 540_000} ms`)
        for (const line of reply.setCookie) t.notMatch(line, /Max-Age|Expires/i, `${kind}: touched, still no Max-Age`)
      }
      const replay = jar.snapshot()
      c.advance(600_000)
      const expired = await replay.get(`${url}/read`)
      t.same(expired.body.data, {}, `${kind}: past the absolute timeout, the browser still open`)
    }
  },
)

t.test('session(): config: browserSessionCookie excludes cookie.maxAge', async (t) => {
  t.throws(() => session({ secrets: [SECRET], browserSessionCookie: true, cookie: { maxAge: 60 } }), {
    name: 'ConfigError',
    message:
      /option "cookie\.maxAge" must be absent when browserSessionCookie is true; received 60 \(number\)\. A browser-session cookie has no Max-Age/,
  })
  t.throws(() => session({ secrets: [SECRET], browserSessionCookie: 'yes' as never }), {
    name: 'ConfigError',
    message: /option "browserSessionCookie" must be true or false/,
  })
})

t.test('session() cookie: without an idle timeout only the absolute one applies, and no touches happen', async (t) => {
  const c = clock()
  const url = await cookieApp(t, { secrets: [SECRET], now: c.now, absoluteTimeoutSeconds: 100, idleTimeoutSeconds: 0 })
  const jar = new CookieJar()
  t.match((await jar.get(`${url}/set?k=v`)).setCookie, [/Max-Age=100;/])
  c.advance(99_000)
  const late = await jar.get(`${url}/read`)
  t.same(late.body.data, { k: 'v' })
  t.same(late.setCookie, [])
  c.advance(1_000)
  t.same((await jar.get(`${url}/read`)).body.data, {})
})

t.test('session() cookie: rolling re-issues every time; touch() once', async (t) => {
  const rolling = await cookieApp(t, { secrets: [SECRET], rolling: true })
  const jar = new CookieJar()
  await jar.get(`${rolling}/set?k=v`)
  t.equal((await jar.get(`${rolling}/read`)).setCookie.length, 1)
  t.equal((await jar.get(`${rolling}/read`)).setCookie.length, 1)
  const plain = await cookieApp(t, { secrets: [SECRET] })
  const jar2 = new CookieJar()
  await jar2.get(`${plain}/set?k=v`)
  t.equal((await jar2.get(`${plain}/touch`)).setCookie.length, 1)
  t.equal((await jar2.get(`${plain}/read`)).setCookie.length, 0)
})

t.test('session() cookie: an array changed in place is detected and saved', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET] })
  const jar = new CookieJar()
  await jar.get(`${url}/push?item=a`)
  const second = await jar.get(`${url}/push?item=b`)
  t.equal(second.setCookie.length, 1)
  t.same((await jar.get(`${url}/read`)).body.data, { cart: ['a', 'b'] })
  t.same((await jar.get(`${url}/read`)).setCookie, [], 'reading an object without changing it writes nothing')
})

t.test('session() cookie: delete, clear, regenerate and destroy', async (t) => {
  const c = clock()
  const url = await cookieApp(t, { secrets: [SECRET], now: c.now, userIdKey: 'userId' })
  const jar = new CookieJar()
  await jar.get(`${url}/set?a=1&b=2`)
  t.same((await jar.get(`${url}/delete?k=a`)).body.data, { b: '2' })
  t.same((await jar.get(`${url}/read`)).body.data, { b: '2' })
  const login = await jar.get(`${url}/login?user=u1`)
  t.same(login.body.data, { userId: 'u1' }, 'regenerate drops the data')
  t.equal(login.body.user, 'u1', 'userIdKey sets userIdState')
  t.equal((await jar.get(`${url}/read`)).body.user, 'u1', 'also when read back')
  c.advance(1000)
  const kept = await jar.get(`${url}/login?user=u2&keep=1`)
  t.same(kept.body.data, { userId: 'u2' })
  const cleared = await jar.get(`${url}/clear`)
  t.match(cleared.setCookie, [/Max-Age=0/], 'an emptied session clears its cookie')
  await jar.get(`${url}/set?a=1`)
  const out = await jar.get(`${url}/logout`)
  t.match(out.setCookie, [/^session=; Max-Age=0/])
  t.equal(jar.cookies.size, 0)
})

t.test('session() cookie: regenerate with the same data still renews the creation time', async (t) => {
  const c = clock()
  const url = await cookieApp(t, { secrets: [SECRET], now: c.now, absoluteTimeoutSeconds: 100, idleTimeoutSeconds: 0 })
  const jar = new CookieJar()
  await jar.get(`${url}/set?userId=u`)
  c.advance(90_000)
  const renewed = await jar.get(`${url}/login?user=u&keep=1`)
  t.match(renewed.setCookie, [/Max-Age=100;/])
  c.advance(50_000)
  t.same((await jar.get(`${url}/read`)).body.data, { userId: 'u' })
})

t.test('session() cookie: encrypted sessions hide their data', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET], encrypt: true })
  const jar = new CookieJar()
  await jar.get(`${url}/set?secret=hunter2`)
  const value = jar.cookies.get('session')!
  t.notMatch(Buffer.from(value.split('.')[0]!, 'base64url').toString('latin1'), /hunter2/)
  t.same((await jar.get(`${url}/read`)).body.data, { secret: 'hunter2' })
  const plain = await cookieApp(t, { secrets: [SECRET] })
  t.same((await jar.snapshot().get(`${plain}/read`)).body.data, {}, 'a plain middleware cannot read it')
})

t.test('session() cookie: over 4 KB is a hard error from set(), or a warning with oversize "warn"', async (t) => {
  const url = await cookieApp(t, { secrets: [SECRET] })
  const jar = new CookieJar()
  await jar.get(`${url}/set?k=v`)
  const big = await jar.get(`${url}/big?size=5000`)
  t.equal(big.body.error, 'SessionTooLargeError')
  t.match(big.body.message, /the session cookie would be \d+ bytes, over the 4096 bytes browsers keep/)
  t.same(big.body.data, { k: 'v' }, 'the refused value is not kept')
  t.same(big.setCookie, [])
  const fits = await jar.get(`${url}/big?size=2900`)
  t.equal(fits.body.error, undefined)
  t.ok(Buffer.byteLength(fits.setCookie[0]!) <= 4096, `${Buffer.byteLength(fits.setCookie[0]!)} bytes`)
  const limit = await jar.get(`${url}/big?size=3000`)
  t.equal(
    limit.body.error,
    'SessionTooLargeError',
    '3000 bytes of data are over 4 KB once encoded, signed and given attributes',
  )

  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const warnUrl = await cookieApp(t, { secrets: [SECRET], oversize: 'warn' })
  const jar2 = new CookieJar()
  await jar2.get(`${warnUrl}/set?k=v`)
  const warned = await jar2.get(`${warnUrl}/big?size=5000`)
  t.equal(warned.body.error, undefined)
  t.same(warned.setCookie, [], 'not sent: browsers would drop it')
  await new Promise((ok) => setImmediate(ok))
  t.match(
    warnings.join('\n'),
    /session\(\): the session cookie would be \d+ bytes, over the 4096 bytes browsers keep; it was not sent/,
  )
  t.same((await jar2.get(`${warnUrl}/read`)).body.data, { k: 'v' }, 'the previous cookie stays')
})

t.test('session() cookie: Secure when the client identity scheme is https', async (t) => {
  const tls: RawHandler = (req, res) => {
    setClientIdentity(req, { ip: '203.0.113.1', scheme: 'https', host: 'app.test', prefix: '', viaTrustedProxy: true })
    return compose(session({ secrets: [SECRET] }))(sessionApp)(req, res)
  }
  const url = await serve(t, tls)
  t.match((await new CookieJar().get(`${url}/set?k=v`)).setCookie, [/; Secure; HttpOnly; SameSite=Lax$/])
  const plain = await cookieApp(t, { secrets: [SECRET] })
  t.notMatch((await new CookieJar().get(`${plain}/set?k=v`)).setCookie[0], /Secure/)
  const strict = await cookieApp(t, {
    secrets: [SECRET],
    name: '__Host-sid',
    cookie: { secure: true, sameSite: 'strict', maxAge: 300 },
  })
  t.match((await new CookieJar().get(`${strict}/set?k=v`)).setCookie, [
    /^__Host-sid=[^;]+; Max-Age=300; Path=\/; Secure; HttpOnly; SameSite=Strict$/,
  ])
})

t.test(
  'session() cookie: Set-Cookie at response start, with writeHead, HEAD, 204, 304, streams; other cookies kept',
  async (t) => {
    const url = await serve(
      t,
      compose(session({ secrets: [SECRET] }))((req, res) => {
        getSession(req).set('seen', req.url)
        switch (req.url) {
          case '/writehead':
            res.writeHead(201, { 'set-cookie': 'other=1; Path=/', 'x-a': 'b' })
            res.end('made')
            return
          case '/204':
            res.statusCode = 204
            res.end()
            return
          case '/304':
            res.statusCode = 304
            res.end()
            return
          case '/empty':
            res.end()
            return
          case '/throw':
            throw new Error('handler failed')
          case '/stream': {
            res.setHeader('set-cookie', ['a=1', 'b=2'])
            const chunk = Buffer.alloc(65_536, 'z')
            void writeWithBackpressure(res, repeated(chunk, 32)).then(() => res.end())
            return
          }
          default:
            res.end()
        }
      }),
    )
    const created = await httpRequest(`${url}/writehead`)
    t.equal(created.status, 201)
    t.same(
      created.headers['set-cookie']!.map((l) => l.split('=')[0]),
      ['other', 'session'],
    )
    t.equal(created.headers['x-a'], 'b')
    for (const path of ['/204', '/304', '/empty'])
      t.match((await httpRequest(url + path)).headers['set-cookie'], [/^session=/], path)
    const head = await httpRequest(`${url}/`, { method: 'HEAD' })
    t.match(head.headers['set-cookie'], [/^session=/])
    const stream = await httpRequest(`${url}/stream`)
    t.equal(stream.body.length, 32 * 65_536)
    t.same(
      stream.headers['set-cookie']!.map((l) => l.split('=')[0]),
      ['a', 'b', 'session'],
    )
    t.equal((await httpRequest(`${url}/throw`)).status, 599, 'a handler error propagates')
  },
)

t.test('session() cookie: a value JSON cannot carry is refused at set()', async (t) => {
  const url = await serve(
    t,
    compose(session({ secrets: [SECRET] }))((req, res) => {
      const s = getSession<{ n: unknown }>(req)
      const errors: string[] = []
      for (const value of [10n, () => 1, Symbol('x')]) {
        try {
          s.set('n', value)
        } catch (err) {
          errors.push((err as Error).message)
        }
      }
      s.set('n', undefined)
      res.end(JSON.stringify({ errors, has: s.has('n') }))
    }),
  )
  const body = (await (await fetch(url)).json()) as { errors: string[]; has: boolean }
  t.equal(body.errors.length, 3)
  t.match(body.errors[1], /session\(\): the value of "n" cannot be stored/)
  t.equal(body.has, false)
})

t.test('session(): typed access through the middleware and getSession; tryGetSession without it', async (t) => {
  const sessions = session<{ visits: number }>({ secrets: [SECRET] })
  const url = await serve(
    t,
    compose(sessions)((req, res) => {
      const s = sessions.get(req)
      const visits: number = (s.get('visits') ?? 0) + 1
      s.set('visits', visits)
      res.end(`${visits} ${getSession(req) === s} ${sessions.tryGet(req) === s}`)
    }),
  )
  t.equal(await (await fetch(url)).text(), '1 true true')
  const bare = await serve(t, (req, res) => res.end(`${tryGetSession(req)} ${sessions.tryGet(req)}`))
  t.equal(await (await fetch(bare)).text(), 'undefined undefined')
  t.match(compose(sessions).explain(), /session \(cookie, 86400s absolute, 7200s idle\)/)
})

t.test('session() store: ids, per-field saves, replay after logout, fixation', async (t) => {
  const c = clock()
  const store = memorySessionStore({ now: c.now })
  const url = await cookieApp(t, { secrets: [SECRET], store, now: c.now, userIdKey: 'userId' })
  const jar = new CookieJar()
  const empty = await jar.get(`${url}/read`)
  t.same(empty.setCookie, [], 'nothing stored, no cookie')
  t.equal(store.size, 0)
  const first = await jar.get(`${url}/set?k=v`)
  t.match(first.setCookie, [
    /^session=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}; Max-Age=7200; Path=\/; HttpOnly; SameSite=Lax$/,
  ])
  const id = first.body.id as string
  t.match(id, /^[A-Za-z0-9_-]{32}$/)
  t.equal(store.size, 1)
  const read = await jar.get(`${url}/read`)
  t.same(read.body, { data: { k: 'v' }, id, isNew: false, user: null })
  t.same(read.setCookie, [], 'unchanged: no cookie')

  // Fixation: the id planted before login is dead after it.
  const planted = jar.snapshot()
  const login = await jar.get(`${url}/login?user=alice`)
  t.not(login.body.id, id, 'regenerate gives a new id')
  t.equal(login.body.user, 'alice')
  t.match(login.setCookie, [/^session=/])
  t.equal(await store.load(id), undefined, 'the old id is deleted')
  const fixated = await planted.get(`${url}/read`)
  t.same(fixated.body.data, {}, 'the planted cookie opens nothing')
  t.not(fixated.body.id, id, 'and its id is never adopted')

  // Replay after logout.
  const loggedIn = jar.snapshot()
  t.equal((await jar.get(`${url}/read`)).body.user, 'alice')
  const out = await jar.get(`${url}/logout`)
  t.match(out.setCookie, [/Max-Age=0/])
  t.equal(store.size, 0)
  const replay = await loggedIn.get(`${url}/read`)
  t.same(replay.body.data, {})
  t.equal(replay.body.user, null)
  t.match(replay.setCookie, [/Max-Age=0/], 'the dead cookie is cleared')
})

t.test('session() store: secret rotation re-issues the id cookie once', async (t) => {
  const store = memorySessionStore()
  const before = await cookieApp(t, { secrets: [OLD_SECRET], store })
  const during = await cookieApp(t, { secrets: [SECRET, OLD_SECRET], store })
  const after = await cookieApp(t, { secrets: [SECRET], store })
  const jar = new CookieJar()
  const id = (await jar.get(`${before}/set?k=v`)).body.id
  const old = jar.snapshot()
  const rotated = await jar.get(`${during}/read`)
  t.equal(rotated.body.id, id)
  t.equal(rotated.setCookie.length, 1)
  t.same((await jar.get(`${during}/read`)).setCookie, [])
  t.same((await jar.get(`${after}/read`)).body.data, { k: 'v' })
  t.same((await old.get(`${after}/read`)).body.data, {})
})

t.test('session() store: a valid signature over an unknown id starts a new session with a new id', async (t) => {
  const store = memorySessionStore()
  const url = await cookieApp(t, { secrets: [SECRET], store })
  const codec = createCookieCodec('x', 'session', [SECRET], false)
  const jar = new CookieJar()
  jar.cookies.set('session', codec.sign('A'.repeat(32)))
  const res = await jar.get(`${url}/set?k=v`)
  t.not(res.body.id, 'A'.repeat(32))
  t.equal(await store.load('A'.repeat(32)), undefined)
  const wrongShape = new CookieJar()
  wrongShape.cookies.set('session', codec.sign('short'))
  const res2 = await wrongShape.get(`${url}/read`)
  t.same(res2.body.data, {}, 'a signed value that is not an id is ignored')
  t.match(res2.setCookie, [/Max-Age=0/])
})

t.test('session() store: idle expiry, touches, absolute expiry', async (t) => {
  const c = clock()
  const store = memorySessionStore({ now: c.now })
  const url = await cookieApp(t, {
    secrets: [SECRET],
    store,
    now: c.now,
    absoluteTimeoutSeconds: 3600,
    idleTimeoutSeconds: 600,
    touchAfterSeconds: 60,
  })
  const jar = new CookieJar()
  const id = (await jar.get(`${url}/set?k=v`)).body.id as string
  c.advance(30_000)
  t.same((await jar.get(`${url}/read`)).setCookie, [], 'no touch within touchAfterSeconds')
  t.equal((await store.load(id))!.seenAt, T0)
  c.advance(30_000)
  const touched = await jar.get(`${url}/read`)
  t.match(touched.setCookie, [/Max-Age=600;/], 'the cookie is re-issued on a touch')
  t.equal((await store.load(id))!.seenAt, T0 + 60_000, 'and the store touched')
  c.advance(600_000)
  t.same((await jar.get(`${url}/read`)).body.data, {}, 'idle too long')

  const jar2 = new CookieJar()
  const id2 = (await jar2.get(`${url}/set?k=v`)).body.id as string
  for (let i = 1; i <= 7; i++) {
    c.advance(500_000)
    t.same((await jar2.get(`${url}/read`)).body.data, { k: 'v' }, `active at ${i * 500} s`)
  }
  c.advance(500_000)
  t.same((await jar2.get(`${url}/read`)).body.data, {}, 'past the absolute timeout, however active')
  t.equal(await store.load(id2), undefined, 'gone from the store')
})

t.test('session() store: concurrent requests changing different fields all keep their change', async (t) => {
  const store = memorySessionStore()
  const url = await cookieApp(t, { secrets: [SECRET], store })
  const jar = new CookieJar()
  await jar.get(`${url}/set?start=1`)
  const cookie = jar.header()
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => fetch(`${url}/set?k${i}=${i}`, { headers: { cookie } }).then((r) => r.text())),
  )
  const data = (await jar.get(`${url}/read`)).body.data as Record<string, string>
  t.equal(Object.keys(data).length, 51)
  for (let i = 0; i < 50; i++) t.equal(data[`k${i}`], String(i))
})

t.test('session() store: save() reports a session destroyed meanwhile; a late write never resurrects it', async (t) => {
  const store = memorySessionStore()
  const url = await cookieApp(t, { secrets: [SECRET], store })
  const jar = new CookieJar()
  const id = (await jar.get(`${url}/set?k=v`)).body.id as string
  t.equal((await jar.get(`${url}/save?a=1`)).body.saved, true)
  // Another request logs out while this one is running.
  const racing = await serve(
    t,
    compose(session({ secrets: [SECRET], store }))(async (req, res) => {
      const s = getSession(req)
      await store.destroy(s.id!)
      s.set('b', '2')
      res.end(String(await s.save()))
    }),
  )
  t.equal(await (await fetch(racing, { headers: { cookie: jar.header() } })).text(), 'false')
  t.equal(await store.load(id), undefined, 'not resurrected by the late write')
  t.equal((await new CookieJar().get(`${url}/save`)).body.saved, true, 'nothing to save on an empty new session')
})

t.test('session() store: a failing store is a 503 for requests with a valid cookie, never a logout', async (t) => {
  const inner = memorySessionStore()
  let failing = false
  const flaky: SessionStore = {
    kind: 'flaky',
    load: (id) => (failing ? Promise.reject(new Error('store down')) : inner.load(id)),
    save: (id, patch, ttl) => (failing ? Promise.reject(new Error('store down')) : inner.save(id, patch, ttl)),
    destroy: (id) => (failing ? Promise.reject(new Error('store down')) : inner.destroy(id)),
    close: () => inner.close(),
  }
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const url = await cookieApp(t, { secrets: [SECRET], store: flaky })
  const jar = new CookieJar()
  await jar.get(`${url}/set?k=v`)
  failing = true
  const down = await jar.get(`${url}/read`)
  t.equal(down.status, 503)
  t.equal(down.body.code, 'session_unavailable')
  t.same(down.setCookie, [], 'the cookie is not cleared')
  t.equal(jar.cookies.size, 1)
  const anonymous = await new CookieJar().get(`${url}/read`)
  t.equal(anonymous.status, 200, 'requests without a session are served')
  const forged = new CookieJar()
  forged.cookies.set('session', 'x'.repeat(32) + '.' + 'y'.repeat(43))
  t.equal((await forged.get(`${url}/read`)).status, 200, 'an invalid cookie needs no store')
  failing = false
  t.same((await jar.get(`${url}/read`)).body.data, { k: 'v' }, 'back: the session is intact')
  await new Promise((ok) => setImmediate(ok))
  t.match(warnings.join('\n'), /session\(\): loading a session failed: store down/)
})

t.test(
  'session() store: regenerate/destroy/save reject with 503 when the store fails; background saves are reported',
  async (t) => {
    const inner = memorySessionStore()
    let failWrites = false
    const store: SessionStore = {
      kind: 'flaky',
      load: (id) => inner.load(id),
      save: (id, patch, ttl) => (failWrites ? Promise.reject(new Error('write failed')) : inner.save(id, patch, ttl)),
      destroy: (id) => (failWrites ? Promise.reject(new Error('write failed')) : inner.destroy(id)),
      close: () => inner.close(),
    }
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    silenceWarningOutput(t)
    process.on('warning', onWarning)
    t.teardown(() => {
      process.off('warning', onWarning)
    })
    const url = await serve(
      t,
      compose(session({ secrets: [SECRET], store }))(async (req, res) => {
        try {
          await sessionApp(req, res)
        } catch (err) {
          const e = err as { status: number; code: string }
          res.statusCode = e.status
          res.end(JSON.stringify({ code: e.code }))
        }
      }),
    )
    const jar = new CookieJar()
    await jar.get(`${url}/set?k=v`)
    failWrites = true
    for (const path of ['/login?user=u', '/logout', '/save?a=1']) {
      const res = await jar.get(url + path)
      t.equal(res.status, 503, path)
      t.equal(res.body.code, 'session_unavailable', path)
    }
    const bg = await jar.get(`${url}/set?b=2`)
    t.equal(bg.status, 200)
    await new Promise((ok) => setTimeout(ok, 10))
    t.match(warnings.join('\n'), /session\(\): saving a session failed: write failed/)
  },
)

t.test('session() store: an expired record found by load is deleted', async (t) => {
  const c = clock()
  const records = new Map<string, SessionRecord>()
  const destroyed: string[] = []
  const store: SessionStore = {
    kind: 'stub',
    load: async (id) => records.get(id),
    save: async () => true,
    destroy: async (id) => {
      destroyed.push(id)
    },
    close: async () => undefined,
  }
  const url = await cookieApp(t, {
    secrets: [SECRET],
    store,
    now: c.now,
    absoluteTimeoutSeconds: 10,
    idleTimeoutSeconds: 0,
  })
  const id = 'B'.repeat(32)
  records.set(id, { createdAt: T0 - 20_000, seenAt: T0, fields: new Map([['k', '"v"']]) })
  const jar = new CookieJar()
  jar.cookies.set('session', createCookieCodec('x', 'session', [SECRET], false).sign(id))
  const res = await jar.get(`${url}/read`)
  t.same(res.body.data, {})
  t.same(destroyed, [id])
})

t.test('session(): config: each rule', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [
      {},
      /option "secrets" must be at least one secret; received undefined \(undefined\)\. Pass secrets: \[process\.env\.SESSION_SECRET\], each at least 32 bytes.*randomBytes\(32\)/,
    ],
    [
      { secrets: [] },
      /option "secrets" must be at least one secret; received an array of 0\. Pass secrets: \[process\.env\.SESSION_SECRET\]/,
    ],
    [
      { secrets: [42] },
      /option "secrets" must be strings or bytes; received 42 \(number\)\. Pass secrets: \[process\.env\.SESSION_SECRET\]/,
    ],
    [{ secrets: ['short'] }, /option "secrets" must be secrets of at least 32 bytes/],
    [
      { secrets: [SECRET], name: '' },
      /option "name" must be a non-empty string; received ""\s\(string\)\. Give the cookie a name, e\.g\. "session"/,
    ],
    [
      { secrets: [SECRET], name: 'a b' },
      /option "cookie\.name" must be a cookie name.*received "a b" \(string\)\. Use letters, digits, "-" and "_", e\.g\. "session"/,
    ],
    [
      { secrets: [SECRET], cookie: { path: '/a;b' } },
      /option "cookie\.path" must be a path.*received "\/a;b" \(string\)\. Use "\/" \(the whole site, the default\) or a path prefix/,
    ],
    [{ secrets: [SECRET], cookie: { domain: 'x\r\ny' } }, /option "cookie\.domain"/],
    [
      { secrets: [SECRET], cookie: { sameSite: 'none' } },
      /option "cookie\.secure" must be true when sameSite is "none"/,
    ],
    [
      { secrets: [SECRET], cookie: { maxAge: -5 } },
      /option "cookie\.maxAge" must be an integer number of seconds.*received -5 \(number\)\. It is in seconds, not ms: 86_400 is one day/,
    ],
    [{ secrets: [SECRET], name: '__Host-s' }, /option "cookie\.secure" must be true for a cookie named "__Host-s"/],
    [
      { secrets: [SECRET], store: {} },
      /option "store" must be a session store.*Leave store unset to keep the \(signed\) data in the cookie/,
    ],
    [{ secrets: [SECRET], store: memorySessionStore(), encrypt: true }, /option "encrypt" must be false with a store/],
    [{ secrets: [SECRET], absoluteTimeoutSeconds: 0 }, /option "absoluteTimeoutSeconds" must be a positive integer/],
    [{ secrets: [SECRET], idleTimeoutSeconds: -1 }, /option "idleTimeoutSeconds" must be an integer ≥ 0/],
    [{ secrets: [SECRET], touchAfterSeconds: 1.5 }, /option "touchAfterSeconds" must be an integer ≥ 0/],
    [
      { secrets: [SECRET], idleTimeoutSeconds: 60, touchAfterSeconds: 60 },
      /option "touchAfterSeconds" must be less than idleTimeoutSeconds \(60\)/,
    ],
    [{ secrets: [SECRET], rolling: 'yes' }, /option "rolling" must be true or false/],
    [{ secrets: [SECRET], encrypt: 1 }, /option "encrypt" must be true or false/],
    [{ secrets: [SECRET], oversize: 'ignore' }, /option "oversize" must be one of "error", "warn"/],
    [{ secrets: [SECRET], userIdKey: '' }, /option "userIdKey" must be a non-empty string/],
    [{ secrets: [SECRET], now: 'later' }, /option "now" must be a function/],
    [{ secrets: [SECRET], secret: SECRET }, /^session\(\): unknown option "secret"; did you mean "secrets"\?$/],
    [
      { secrets: [SECRET], cookie: { httponly: false } },
      /^session\(\): unknown option "cookie\.httponly"; did you mean "cookie\.httpOnly"\?$/,
    ],
    [
      { secrets: [SECRET], cookie: { expires: 60 } },
      /^session\(\): unknown option "cookie\.expires"; known options of cookie are path, domain, httpOnly, secure, sameSite, partitioned, maxAge\.$/,
    ],
    [
      { secrets: [SECRET], cookie: 'secure' },
      /^session\(\): option "cookie" must be an object of cookie attributes; received "secure"/,
    ],
  ]
  for (const [options, message] of cases)
    t.throws(() => session(options as never), { name: 'ConfigError', message }, JSON.stringify(options).slice(0, 90))
})

import fc from 'fast-check'
import t, { type Test } from 'tap'
import {
  compileCookie,
  getCookie,
  getCookies,
  parseCookies,
  isCookieName,
  isCookieValue,
  setClientIdentity,
  MAX_COOKIE_AGE_SECONDS,
} from '../../lib/core.js'
import { httpRequest } from '../helpers/http.js'
import { serve } from '../helpers/serve.js'

/** Serves `getCookie(req, name)` and `getCookies(req, name)` for the `name` in the query. */
async function cookieReader(t: Test): Promise<(cookie: string | undefined, name: string) => Promise<unknown>> {
  const url = await serve(t, (req, res) => {
    const name = new URL(req.url!, 'http://x').searchParams.get('name')!
    res.end(JSON.stringify({ one: getCookie(req, name) ?? null, all: getCookies(req, name) }))
  })
  return async (cookie, name) => {
    const headers: Record<string, string> = cookie === undefined ? {} : { cookie }
    return JSON.parse((await httpRequest(`${url}/?name=${encodeURIComponent(name)}`, { headers })).text)
  }
}

t.test('getCookie(req, name): finds a cookie among others, exact name only', async (t) => {
  const read = await cookieReader(t)
  const header = 'sidx=1; a=b;  sid=abc.def ; sid=second'
  const one = async (cookie: string | undefined, name: string) => ((await read(cookie, name)) as { one: unknown }).one
  t.equal(await one(header, 'sid'), 'abc.def')
  t.equal(await one(header, 'sidx'), '1')
  t.equal(await one(header, 'si'), null)
  t.equal(await one(header, 'a'), 'b')
  t.equal(await one(undefined, 'a'), null, 'no Cookie header')
  t.equal(await one('', 'a'), null, 'an empty Cookie header')
  t.equal(await one('a', 'a'), null, 'a name without "=" has no value')
  t.equal(await one('a =x', 'a'), 'x', 'whitespace before "="')
  t.equal(await one('a=', 'a'), '', 'an empty value')
  t.equal(await one('a="quoted"', 'a'), 'quoted', 'RFC 6265 quoted value')
  t.equal(await one('b=1;\ta=tab', 'a'), 'tab')
})

t.test('getCookies(req, name): every value of a repeated name, in order', async (t) => {
  const read = await cookieReader(t)
  const all = async (cookie: string | undefined, name: string) => ((await read(cookie, name)) as { all: unknown }).all
  t.same(await all('sid=1; other=2; sid=3;sid="4"', 'sid'), ['1', '3', '4'])
  t.same(await all(undefined, 'sid'), [])
  t.same(await all('', 'sid'), [])
  t.same(await all('x=1', 'sid'), [])
})

t.test('parseCookies(): a map, first value of a name wins', async (t) => {
  const map = parseCookies('a=1; b="2"; a=3; novalue; =empty; c=')
  t.same(
    [...map],
    [
      ['a', '1'],
      ['b', '2'],
      ['c', ''],
    ],
  )
  t.equal(parseCookies(undefined).size, 0)
})

t.test('isCookieName() / isCookieValue(): RFC 6265 grammar', async (t) => {
  t.ok(isCookieName('__Host-sid'))
  t.notOk(isCookieName('a b'))
  t.notOk(isCookieName('a;b'))
  t.notOk(isCookieName('a=b'))
  t.ok(isCookieValue("abc-_.~!#$%&'()*+/:<=>?@[]^`{|}"))
  for (const bad of ['a;b', 'a,b', 'a b', 'a"b', 'a\\b', 'a\rb', 'a\nb', 'é']) t.notOk(isCookieValue(bad), bad)
})

t.test(
  'compileCookie(): serializes with safe defaults (HttpOnly, Path=/, SameSite=Lax, no Secure over http)',
  async (t) => {
    const cookie = compileCookie('test', 'cookie', 'sid')
    const url = await serve(t, (req, res) => {
      res.setHeader('set-cookie', [cookie.serialize('v1', req), cookie.serialize('v2', req, 60), cookie.clear(req)])
      res.end()
    })
    const res = await fetch(url)
    t.same(res.headers.getSetCookie(), [
      'sid=v1; Path=/; HttpOnly; SameSite=Lax',
      'sid=v2; Max-Age=60; Path=/; HttpOnly; SameSite=Lax',
      'sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax',
    ])
  },
)

t.test('compileCookie(): secure "auto" follows the client identity scheme', async (t) => {
  const cookie = compileCookie('test', 'cookie', 'sid', { maxAge: 10 })
  const url = await serve(t, (req, res) => {
    if (req.url === '/tls')
      setClientIdentity(req, { ip: '127.0.0.1', scheme: 'https', host: 'x', prefix: '', viaTrustedProxy: true })
    res.setHeader('set-cookie', [cookie.serialize('v', req), cookie.serialize('v', req, null)])
    res.end()
  })
  t.same((await fetch(url)).headers.getSetCookie(), [
    'sid=v; Max-Age=10; Path=/; HttpOnly; SameSite=Lax',
    'sid=v; Path=/; HttpOnly; SameSite=Lax',
  ])
  t.same((await fetch(`${url}/tls`)).headers.getSetCookie(), [
    'sid=v; Max-Age=10; Path=/; Secure; HttpOnly; SameSite=Lax',
    'sid=v; Path=/; Secure; HttpOnly; SameSite=Lax',
  ])
})

t.test('compileCookie(): an attribute given as undefined takes its default', async (t) => {
  const cookie = compileCookie('test', 'cookie', 'sid', {
    path: undefined,
    httpOnly: undefined,
    secure: undefined,
    sameSite: undefined,
    partitioned: undefined,
    domain: undefined,
    maxAge: undefined,
  })
  t.same(cookie.attributes, { path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax', partitioned: false })
})

t.test('compileCookie(): every attribute', async (t) => {
  const cookie = compileCookie('test', 'cookie', '__Secure-id', {
    path: '/app',
    domain: 'example.com',
    httpOnly: false,
    secure: true,
    sameSite: 'none',
    partitioned: true,
    maxAge: MAX_COOKIE_AGE_SECONDS,
  })
  t.same(cookie.attributes, {
    path: '/app',
    domain: 'example.com',
    httpOnly: false,
    secure: true,
    sameSite: 'none',
    partitioned: true,
    maxAge: MAX_COOKIE_AGE_SECONDS,
  })
  const url = await serve(t, (req, res) => {
    res.setHeader('set-cookie', [cookie.serialize('x', req), cookie.serialize('x', req, MAX_COOKIE_AGE_SECONDS * 2)])
    res.end()
  })
  const sent = (await fetch(url)).headers.getSetCookie()
  t.equal(
    sent[0],
    `__Secure-id=x; Max-Age=${MAX_COOKIE_AGE_SECONDS}; Domain=example.com; Path=/app; Secure; SameSite=None; Partitioned`,
  )
  t.equal(sent[1], sent[0], 'Max-Age is capped at 400 days')
  const strict = compileCookie('test', 'cookie', 'a', { sameSite: 'strict', secure: false })
  const noSameSite = compileCookie('test', 'cookie', 'a', { sameSite: false })
  const url2 = await serve(t, (req, res) => {
    res.setHeader('set-cookie', [strict.serialize('1', req), noSameSite.serialize('2', req)])
    res.end()
  })
  t.same((await fetch(url2)).headers.getSetCookie(), [
    'a=1; Path=/; HttpOnly; SameSite=Strict',
    'a=2; Path=/; HttpOnly',
  ])
})

t.test('compileCookie(): refuses to serialize a value that would inject attributes', async (t) => {
  const cookie = compileCookie('test', 'cookie', 'sid')
  const url = await serve(t, (req, res) => {
    t.throws(() => cookie.serialize('x; Domain=evil.example', req), {
      name: 'TypeError',
      message: /test\(\): cookie "sid" value contains characters/,
    })
    t.throws(() => cookie.serialize('x\r\nSet-Cookie: a=b', req), TypeError)
    res.end()
  })
  await fetch(url)
})

t.test(
  'compileCookie(): property: any value it accepts round-trips through a Cookie header and never adds an attribute',
  async (t) => {
    const cookie = compileCookie('test', 'cookie', 'sid')
    const url = await serve(t, (req, res) => {
      const value = decodeURIComponent(new URL(req.url!, 'http://x').searchParams.get('v')!)
      let line: string
      try {
        line = cookie.serialize(value, req)
      } catch {
        res.end('refused')
        return
      }
      res.end(JSON.stringify({ line, back: parseCookies(line.split(';')[0]).get('sid') }))
    })
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 20 }), async (value) => {
        const body = await (await fetch(`${url}/?v=${encodeURIComponent(encodeURIComponent(value))}`)).text()
        if (body === 'refused') return !isCookieValue(value)
        const { line, back } = JSON.parse(body) as { line: string; back: string }
        return isCookieValue(value) && back === value && line.split(';').length === 4
      }),
      { numRuns: 60 },
    )
  },
)

t.test('compileCookie(): config: each rule', async (t) => {
  const bad: Array<[unknown, object, RegExp]> = [
    [
      'a b',
      {},
      /test\(\): option "cookie\.name" must be a cookie name.*received "a b" \(string\)\. Use letters, digits, "-" and "_"/,
    ],
    ['a;b', {}, /option "cookie\.name"/],
    [42, {}, /option "cookie\.name".*received 42 \(number\)/],
    [
      'sid',
      { path: 'app' },
      /option "cookie\.path" must be a path starting with "\/".*received "app" \(string\)\. Use "\/" \(the whole site, the default\) or a path prefix such as "\/app"/,
    ],
    ['sid', { path: '/a;Domain=x' }, /option "cookie\.path"/],
    ['sid', { path: '/a\r\nx' }, /option "cookie\.path"/],
    ['sid', { domain: 'a;b.com' }, /option "cookie\.domain" must be a domain name/],
    ['sid', { domain: 'exa mple.com' }, /option "cookie\.domain"/],
    ['sid', { domain: 'a\nb' }, /option "cookie\.domain"/],
    [
      'sid',
      { maxAge: -1 },
      /option "cookie\.maxAge" must be an integer number of seconds from 0 to 34560000.*received -1 \(number\)\. It is in seconds, not ms.*400 days/,
    ],
    [
      'sid',
      { maxAge: 86_400_000 },
      /option "cookie\.maxAge".*received 86400000 \(number\)\. It is in seconds, not ms: 86_400 is one day/,
    ],
    ['sid', { maxAge: 1.5 }, /option "cookie\.maxAge"/],
    ['sid', { maxAge: MAX_COOKIE_AGE_SECONDS + 1 }, /option "cookie\.maxAge"/],
    ['sid', { httpOnly: 'yes' }, /option "cookie\.httpOnly" must be true or false/],
    ['sid', { secure: 'always' }, /option "cookie\.secure" must be true, false or "auto"/],
    ['sid', { sameSite: 'Lax' }, /option "cookie\.sameSite" must be "lax", "strict", "none" or false/],
    ['sid', { partitioned: 1 }, /option "cookie\.partitioned" must be true or false/],
    [
      'sid',
      { sameSite: 'none' },
      /option "cookie\.secure" must be true when sameSite is "none".*Browsers reject SameSite=None/,
    ],
    [
      'sid',
      { partitioned: true, sameSite: 'none', secure: 'auto' },
      /option "cookie\.secure" must be true when sameSite is "none"/,
    ],
    ['sid', { partitioned: true, secure: false }, /option "cookie\.secure" must be true when partitioned is true/],
    ['__Secure-sid', {}, /option "cookie\.secure" must be true for a cookie named "__Secure-sid"/],
    [
      '__Host-sid',
      { secure: true, path: '/app' },
      /option "cookie\.path" must be unset \(domain\) and "\/" \(path\) for a cookie named "__Host-sid"/,
    ],
    ['__Host-sid', { secure: true, domain: 'example.com' }, /option "cookie\.domain" must be unset/],
    [
      'sid',
      { sameSite: 'lax', expires: 3 },
      /^test\(\): unknown option "cookie\.expires"; known options of cookie are path, domain, httpOnly, secure, sameSite, partitioned, maxAge\.$/,
    ],
    ['sid', { samesite: 'lax' }, /^test\(\): unknown option "cookie\.samesite"; did you mean "cookie\.sameSite"\?$/],
  ]
  for (const [name, attributes, message] of bad) {
    t.throws(
      () => compileCookie('test', 'cookie', name, attributes),
      { name: 'ConfigError', message },
      `${String(name)} ${JSON.stringify(attributes)}`,
    )
  }
  t.throws(() => compileCookie('test', 'cookie', 'sid', null as never), {
    name: 'ConfigError',
    message: /option "cookie" must be an object of cookie attributes/,
  })
  t.ok(compileCookie('test', 'cookie', '__Host-sid', { secure: true }))
  t.ok(compileCookie('test', 'cookie', 'sid', { domain: '.example.com' }))
})

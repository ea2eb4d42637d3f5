import fc from 'fast-check'
import t from 'tap'
import { compilePathPatterns, normalizePath } from '../../lib/index.js'

t.test('normalizePath(): one normal form for every spelling of a path', async (t) => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['/admin', '/admin'],
    ['/admin/', '/admin'],
    ['/admin?x=1#y', '/admin'],
    ['/%61dmin', '/admin'],
    ['//admin', '/admin'],
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public%2F..%2Fadmin', '/admin'],
    ['\\admin', '/admin'],
    ['/public\\..\\admin', '/admin'],
    ['/a/./b//c/', '/a/b/c'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/', '/'],
    ['', '/'],
    ['admin', '/admin'],
    ['http://example.com/admin?q', '/admin'],
    ['*', '*'],
    ['/.well-known/x', '/.well-known/x'],
    ['/caf%C3%A9', '/café'],
    ['/%zz', undefined],
    ['/%C0%AE%C0%AE/', undefined],
    ['/a%00b', undefined],
    ['/a\u0001b', undefined],
    [undefined, undefined],
  ]
  for (const [input, expected] of cases) t.equal(normalizePath(input), expected, String(input))
})

t.test('normalizePath(): is idempotent and never leaves dot segments or double slashes (property)', async (t) => {
  fc.assert(fc.property(fc.array(fc.constantFrom('a', 'B', '.', '..', '', '%2e', '%2F', '%61', '\\', 'x y'), { maxLength: 8 }), (segments) => {
    const once = normalizePath('/' + segments.join('/'))
    if (once === undefined) return true
    return normalizePath(once) === once && !/\/\.\.?(\/|$)/.test(once) && !once.includes('//')
  }))
  t.pass('properties hold')
})

t.test('compilePathPatterns(): exact, prefix on a segment boundary, anchored regex, predicate', async (t) => {
  const match = compilePathPatterns('test', 'paths', ['/health', '/api/*', /^\/v\d+\/status$/, (p) => p.endsWith('.png')])
  for (const yes of ['/health', '/HEALTH', '/api', '/api/x/y', '/v2/status', '/img/a.png']) t.ok(match(normalizePath(yes)!), yes)
  for (const no of ['/healthz', '/apix', '/x/api', '/v2/status/x', '/']) t.notOk(match(normalizePath(no)!), no)
  const sensitive = compilePathPatterns('test', 'paths', ['/Admin/*', /^\/X$/], { caseSensitive: true })
  t.ok(sensitive('/Admin/a'))
  t.notOk(sensitive('/admin/a'))
  t.notOk(sensitive('/x'))
  t.ok(compilePathPatterns('test', 'paths', ['/*'])('/anything'))
  t.notOk(compilePathPatterns('test', 'paths', [])('/anything'))
})

t.test('compilePathPatterns(): config: refuses patterns that could match too much or nothing', async (t) => {
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [/admin/]), { name: 'ConfigError', message: /jwtAuth\(\): option "publicPaths" must be patterns whose RegExps start with \^/ })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [/^\/a/g]), { name: 'ConfigError', message: /no g or y flag/ })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', ['health']), { name: 'ConfigError', message: /write "\/health"/ })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', ['/%zz']), { name: 'ConfigError', message: /valid paths/ })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', '/x' as never), { name: 'ConfigError', message: /an array of path patterns/ })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [42 as never]), { name: 'ConfigError' })
})

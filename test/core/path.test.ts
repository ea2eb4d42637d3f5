import fc from 'fast-check'
import t from 'tap'
import { AMBIGUOUS_PATH_ERROR, compilePathPatterns, matchablePath, normalizePath } from '../../lib/core.js'
import { expectAmbiguousPaths } from '../../lib/core/path.js'

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
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('a', 'B', '.', '..', '', '%2e', '%2F', '%61', '\\', 'x y'), { maxLength: 8 }),
      (segments) => {
        const once = normalizePath('/' + segments.join('/'))
        if (once === undefined) return true
        return normalizePath(once) === once && !/\/\.\.?(\/|$)/.test(once) && !once.includes('//')
      },
    ),
  )
  t.pass('properties hold')
})

t.test('matchablePath(): the normal form of targets every router reads the same way', async (t) => {
  const cases: Array<[string, string]> = [
    ['/admin', '/admin'],
    ['/admin/', '/admin'],
    ['/ADMIN/x', '/ADMIN/x'],
    ['/admin?x=/../y#//z', '/admin'],
    ['http://example.com/admin?q', '/admin'],
    ['/', '/'],
    ['*', '*'],
    ['/.well-known/x', '/.well-known/x'],
    ['/caf%C3%A9', '/café'],
    ['/a%20b', '/a b'],
    ['/a%3Bb', '/a;b'],
    ['/a%3Fb', '/a?b'],
    ['/a%25b', '/a%b'],
    ['/a.b/..c', '/a.b/..c'],
  ]
  for (const [input, expected] of cases) t.equal(matchablePath(input), expected, input)
})

t.test(
  'matchablePath(): undefined for targets routers and normalisation read differently, and for unreadable ones',
  async (t) => {
    const ambiguous = [
      // Dot segments, raw or escaped: routers resolve none of them.
      '/admin/..',
      '/admin/.',
      '/./admin',
      '/public/../admin',
      '/admin/%2e%2e',
      '/admin/.%2E',
      '/admin/%2e',
      '/a/x/..',
      // Escaped separators: one segment to routers, two here.
      '/admin/..%2f..%2fpublic',
      '/admin/..%2Fpublic',
      '/admin%2fx',
      '/admin/..%5cpublic',
      '/admin/%5C',
      // Backslashes, empty segments, path parameters.
      '\\admin',
      '/public\\..\\admin',
      '//admin',
      '/admin//x',
      'http://x//admin',
      '/public/..;/admin',
      '/admin;x',
      '/admin/x;y=1',
      // Escaped unreserved characters: Fastify decodes them before routing, Express does not.
      '/%61dmin',
      '/a%2ejson',
      '/a%2Db',
      '/a%5fb',
      '/a%7Eb',
      '/%30',
      // Not a path to a router.
      'admin',
    ]
    for (const target of ambiguous) {
      t.equal(matchablePath(target), undefined, target)
      t.not(normalizePath(target), undefined, `${target}: normalizePath still names it`)
    }
    for (const target of ['/%zz', '/a%00b', '/admin/x%00', '/%C0%AE%C0%AE/', '/a\u0001b', '/a%'])
      t.equal(matchablePath(target), undefined, target)
    t.equal(matchablePath(undefined), undefined)
  },
)

t.test('matchablePath(): property: a path it names is what a router reads, segment by segment', async (t) => {
  const segment = fc.constantFrom(
    'a',
    'B',
    '.',
    '..',
    '',
    '%2e',
    '%2F',
    '%61',
    '%5c',
    '\\',
    'x%20y',
    ';',
    'a;b',
    '%C3%A9',
    '%3B',
    '%00',
    '..;',
  )
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 6 }), fc.boolean(), (segments, trailing) => {
      const target = '/' + segments.join('/') + (trailing ? '/' : '')
      const named = matchablePath(target)
      if (named === undefined) return true
      // What Express and Fastify see: the raw segments, each decoded on its own.
      const routed = target
        .split('/')
        .slice(1)
        .map((s) => decodeURIComponent(s))
      if (routed.length > 1 && routed[routed.length - 1] === '') routed.pop()
      return named === '/' + routed.join('/') && named === normalizePath(target)
    }),
    { numRuns: 2000 },
  )
  t.pass('every path named is the one routed')
})

t.test('expectAmbiguousPaths(): the option of every path-deciding layer', async (t) => {
  t.equal(expectAmbiguousPaths('rateLimit', 'fail-closed'), false)
  t.equal(expectAmbiguousPaths('rateLimit', 'refuse'), true)
  t.throws(() => expectAmbiguousPaths('rateLimit', 'reject'), {
    name: 'ConfigError',
    message: /rateLimit\(\): option "ambiguousPaths" must be one of "fail-closed", "refuse"/,
  })
  t.match(AMBIGUOUS_PATH_ERROR, { status: 400, code: 'ambiguous_path', expose: true })
})

t.test('compilePathPatterns(): exact, prefix on a segment boundary, anchored regex, predicate', async (t) => {
  const match = compilePathPatterns('test', 'paths', [
    '/health',
    '/api/*',
    /^\/v\d+\/status$/,
    (p) => p.endsWith('.png'),
  ])
  for (const yes of ['/health', '/HEALTH', '/api', '/api/x/y', '/v2/status', '/img/a.png'])
    t.ok(match(normalizePath(yes)!), yes)
  for (const no of ['/healthz', '/apix', '/x/api', '/v2/status/x', '/']) t.notOk(match(normalizePath(no)!), no)
  const sensitive = compilePathPatterns('test', 'paths', ['/Admin/*', /^\/X$/], { caseSensitive: true })
  t.ok(sensitive('/Admin/a'))
  t.notOk(sensitive('/admin/a'))
  t.notOk(sensitive('/x'))
  t.ok(compilePathPatterns('test', 'paths', ['/*'])('/anything'))
  t.notOk(compilePathPatterns('test', 'paths', [])('/anything'))
})

t.test('compilePathPatterns(): config: refuses patterns that could match too much or nothing', async (t) => {
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [/admin/]), {
    name: 'ConfigError',
    message: /jwtAuth\(\): option "publicPaths" must be patterns whose RegExps start with \^/,
  })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [/^\/a/g]), {
    name: 'ConfigError',
    message: /no g or y flag/,
  })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', ['health']), {
    name: 'ConfigError',
    message: /write "\/health"/,
  })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', ['/%zz']), {
    name: 'ConfigError',
    message: /valid paths/,
  })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', '/x' as never), {
    name: 'ConfigError',
    message: /an array of path patterns/,
  })
  t.throws(() => compilePathPatterns('jwtAuth', 'publicPaths', [42 as never]), { name: 'ConfigError' })
})

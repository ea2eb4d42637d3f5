import t from 'tap'
import { ConfigError } from '../../lib/index.js'
import { withDefaults } from '../../lib/core.js'
import {
  defineDefaults,
  expectArray,
  expectBoolean,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectNumber,
  expectOneOf,
  expectString,
  isToken,
  optionPath,
  unknownOption,
  withNestedDefaults,
} from '../../lib/core/options.js'

interface Opts {
  maxAge?: number
  origins?: readonly string[]
  credentials?: boolean
  /** An option without a default. */
  onOrigin?: (origin: string) => boolean
}
const defaults = defineDefaults<Opts, 'onOrigin'>({
  maxAge: 600,
  origins: ['*'],
  credentials: false,
  onOrigin: undefined,
})
/** Options as a JavaScript caller (or a cast) may pass them: anything. */
const given = (options: unknown) => options as Opts

t.test(
  'defineDefaults(): frozen, and its keys are exactly the options, those without a default included',
  async (t) => {
    t.ok(Object.isFrozen(defaults))
    t.same(Object.keys(defaults), ['maxAge', 'origins', 'credentials', 'onOrigin'])
    t.equal(defaults.onOrigin, undefined)
    // What tsc refuses (checked by the typecheck of this file): a missing option, an
    // extra one, and a default for an option declared without one.
    // @ts-expect-error onOrigin is missing
    defineDefaults<Opts, 'onOrigin'>({ maxAge: 1, origins: [], credentials: false })
    // @ts-expect-error extra is no option
    defineDefaults<Opts, 'onOrigin'>({ maxAge: 1, origins: [], credentials: false, onOrigin: undefined, extra: 1 })
    // @ts-expect-error onOrigin is declared without a default
    defineDefaults<Opts, 'onOrigin'>({ maxAge: 1, origins: [], credentials: false, onOrigin: () => true })
    // @ts-expect-error maxAge has a default, so it is not undefined
    defineDefaults<Opts, 'onOrigin'>({ maxAge: undefined, origins: [], credentials: false, onOrigin: undefined })
  },
)

t.test('withDefaults(): merges, and an undefined option takes its default', async (t) => {
  t.same(withDefaults('cors', defaults, undefined), defaults)
  t.same(withDefaults('cors', defaults, given({ maxAge: 5, credentials: undefined })), { ...defaults, maxAge: 5 })
  const onOrigin = () => true
  const opts = withDefaults('cors', defaults, given({ onOrigin }))
  t.equal(opts.onOrigin, onOrigin, 'an option without a default is known, and taken as given')
  t.equal(withDefaults('cors', defaults, given({})).onOrigin, undefined)
  t.not(withDefaults('cors', defaults, given({})), defaults, 'a copy, never the frozen defaults')
  // The merged type: an option with a default is never undefined, one without may be.
  const maxAge: number = opts.maxAge
  const maybe: ((origin: string) => boolean) | undefined = opts.onOrigin
  t.ok(maxAge && maybe)
})

t.test('withDefaults(): config: an unknown key is refused in a sentence that guesses', async (t) => {
  t.throws(() => withDefaults('cors', defaults, given({ maxAgeSeconds: 5 })), {
    name: 'ConfigError',
    code: 'ERR_MIDDLEWARE_OPTION',
    middleware: 'cors',
    option: 'maxAgeSeconds',
    message: 'cors(): unknown option "maxAgeSeconds"; did you mean "maxAge"?',
  })
  t.throws(() => withDefaults('cors', defaults, given({ origin: 'x' })), {
    message: 'cors(): unknown option "origin"; did you mean "origins"?',
  })
  t.throws(() => withDefaults('cors', defaults, given({ zzzzzzzz: 1 })), {
    option: 'zzzzzzzz',
    message: 'cors(): unknown option "zzzzzzzz"; known options are maxAge, origins, credentials, onOrigin.',
  })
  t.throws(() => withDefaults('cors', defaults, given({ onOrigni: 1 })), {
    message: /did you mean "onOrigin"\?$/,
  })
})

t.test('withDefaults(): config: options must be an object', async (t) => {
  t.throws(() => withDefaults('cors', defaults, given('x')), {
    name: 'TypeError',
    message: /cors\(\): options must be an object; received "x" \(string\)/,
  })
  t.throws(() => withDefaults('cors', defaults, given([])), { message: /received an array of 0/ })
  t.throws(() => withDefaults('cors', defaults, given(null)), { message: /received null/ })
})

interface Hsts {
  maxAge?: number
  preload?: boolean
  report?: string
}
const hstsDefaults = defineDefaults<Hsts, 'report'>({ maxAge: 31_536_000, preload: false, report: undefined })
const hsts = (value: unknown) => withNestedDefaults('securityHeaders', 'hsts', hstsDefaults, value as Hsts)

t.test('withNestedDefaults(): merges a nested object, and undefined takes the defaults', async (t) => {
  t.same(hsts(undefined), hstsDefaults)
  t.not(hsts(undefined), hstsDefaults, 'a copy')
  t.same(hsts({ preload: true, maxAge: undefined }), { maxAge: 31_536_000, preload: true, report: undefined })
  t.same(hsts({ report: '/r' }).report, '/r')
})

t.test('withNestedDefaults(): config: unknown keys and bad values are named by their full path', async (t) => {
  t.throws(() => hsts({ maxage: 5 }), {
    name: 'ConfigError',
    middleware: 'securityHeaders',
    option: 'hsts.maxage',
    message: 'securityHeaders(): unknown option "hsts.maxage"; did you mean "hsts.maxAge"?',
  })
  t.throws(() => hsts({ zzzzzzzz: 5 }), {
    option: 'hsts.zzzzzzzz',
    message: 'securityHeaders(): unknown option "hsts.zzzzzzzz"; known options of hsts are maxAge, preload, report.',
  })
  for (const value of [true, null, ['x'], 'x']) {
    t.throws(() => hsts(value), {
      name: 'ConfigError',
      option: 'hsts',
      message: /^securityHeaders\(\): option "hsts" must be an object of options; received /,
    })
  }
  t.throws(
    () => withNestedDefaults('timeout', 'perPath[2]', hstsDefaults, 5 as Hsts, 'an object { paths, ms? }', 'Fix.'),
    { message: 'timeout(): option "perPath[2]" must be an object { paths, ms? }; received 5 (number). Fix.' },
  )
  // Deeper levels join their paths the same way.
  const outer: { b?: Hsts } = { b: { preload: true } }
  const inner = withNestedDefaults('m', 'a', defineDefaults<{ b?: Hsts }>({ b: {} }), outer)
  t.throws(() => withNestedDefaults('m', optionPath('a', 'b'), hstsDefaults, { ...inner.b, prelaod: 1 } as Hsts), {
    option: 'a.b.prelaod',
    message: 'm(): unknown option "a.b.prelaod"; did you mean "a.b.preload"?',
  })
  // Values inside are validated by the usual validators, given the full path.
  t.throws(() => expectInteger('securityHeaders', optionPath('hsts', 'maxAge'), hsts({ maxAge: -1 }).maxAge), {
    option: 'hsts.maxAge',
    message: /^securityHeaders\(\): option "hsts\.maxAge" must be an integer ≥ 0; received -1 \(number\)\.$/,
  })
})

t.test('unknownOption(): guesses from every spelling, lists only those given', async (t) => {
  const error = unknownOption(
    'securityHeaders',
    'csp.directives',
    'scriptSr',
    ['script-src', 'scriptSrc'],
    ['script-src'],
  )
  t.ok(error instanceof ConfigError)
  t.equal(error.option, 'csp.directives.scriptSr')
  t.equal(
    error.message,
    'securityHeaders(): unknown option "csp.directives.scriptSr"; did you mean "csp.directives.scriptSrc"?',
  )
  t.match(error.stack, /^ConfigError: securityHeaders\(\): unknown option "csp\.directives\.scriptSr"/)
  t.equal(
    unknownOption('m', '', 'zzzzzzzz', ['a', 'aa'], ['a']).message,
    'm(): unknown option "zzzzzzzz"; known options are a.',
  )
})

t.test('validators: pass good values through and name option, expectation and value otherwise', async (t) => {
  t.equal(expectInteger('m', 'o', 3, 1), 3)
  t.throws(
    () => expectInteger('rateLimit', 'windowMs', '1m', 1, Number.MAX_SAFE_INTEGER, 'Use 60_000 for one minute.'),
    {
      name: 'ConfigError',
      message:
        'rateLimit(): option "windowMs" must be a positive integer; received "1m" (string). Use 60_000 for one minute.',
    },
  )
  t.throws(() => expectInteger('m', 'o', 1.5), { message: /must be an integer ≥ 0; received 1.5 \(number\)/ })
  t.throws(() => expectInteger('m', 'o', 11, 0, 10), { message: /must be an integer from 0 to 10/ })
  t.throws(() => expectInteger('m', 'o', 1, 5), { message: /must be an integer ≥ 5/ })
  t.equal(expectNumber('m', 'o', 0.5, 0, 1), 0.5)
  t.throws(() => expectNumber('m', 'o', Number.NaN), { message: /must be a number ≥ 0; received NaN/ })
  t.throws(() => expectNumber('m', 'o', 2, 0, 1), { message: /from 0 to 1/ })
  t.equal(expectBoolean('m', 'o', true), true)
  t.throws(() => expectBoolean('m', 'o', 'yes'), { message: /must be true or false/ })
  const fn = () => 1
  t.equal(expectFunction('m', 'o', fn), fn)
  t.throws(() => expectFunction('m', 'o', 1), { message: /must be a function/ })
  t.equal(expectOneOf('m', 'o', 307, [301, 307, 308]), 307)
  t.throws(() => expectOneOf('m', 'o', 302, [301, 307, 308]), { message: /must be one of 301, 307, 308; received 302/ })
  t.equal(expectString('m', 'o', 'x'), 'x')
  t.equal(expectString('m', 'o', '', true), '')
  t.throws(() => expectString('m', 'o', ''), { message: /a non-empty string/ })
  t.equal(expectHeaderName('m', 'o', 'X-Request-Id'), 'x-request-id')
  t.throws(() => expectHeaderName('m', 'o', 'x id'), { message: /a header name/ })
  t.same(
    expectArray('m', 'o', [1, 2], (x) => Number(x) * 2),
    [2, 4],
  )
  t.throws(() => expectArray('m', 'o', 'x', (x) => x), { message: /must be an array/ })
  t.ok(isToken('x-id') && !isToken('x id') && !isToken(''))
  t.ok(new ConfigError('m', 'o', 'x', 1) instanceof TypeError)
})

t.test('validators: config: every one ends its message with the fix it is given', async (t) => {
  const fix = 'Do this instead.'
  const cases: Array<[() => unknown, string]> = [
    [
      () => expectBoolean('m', 'o', 'yes', fix),
      'm(): option "o" must be true or false; received "yes" (string). Do this instead.',
    ],
    [
      () => expectFunction('m', 'o', 1, fix),
      'm(): option "o" must be a function; received 1 (number). Do this instead.',
    ],
    [
      () => expectOneOf('m', 'o', 'c', ['a', 'b'], fix),
      'm(): option "o" must be one of "a", "b"; received "c" (string). Do this instead.',
    ],
    [
      () => expectString('m', 'o', '', false, fix),
      'm(): option "o" must be a non-empty string; received "" (string). Do this instead.',
    ],
    [
      () => expectHeaderName('m', 'o', 'x id', fix),
      'm(): option "o" must be a header name (RFC 9110 token characters only); received "x id" (string). Do this instead.',
    ],
    [
      () => expectNumber('m', 'o', -1, 0, 1, fix),
      'm(): option "o" must be a number from 0 to 1; received -1 (number). Do this instead.',
    ],
  ]
  for (const [call, message] of cases) t.throws(call, { name: 'ConfigError', message }, message)
})

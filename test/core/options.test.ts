import t from 'tap'
import { ConfigError } from '../../lib/index.js'
import { withDefaults } from '../../lib/core.js'
import {
  expectArray,
  expectBoolean,
  expectFunction,
  expectHeaderName,
  expectInteger,
  expectNumber,
  expectOneOf,
  expectString,
  isToken,
} from '../../lib/core/options.js'

const defaults = Object.freeze({ maxAge: 600, origins: ['*'] as string[], credentials: false })

t.test('withDefaults(): merges, and an undefined option takes its default', async (t) => {
  t.same(withDefaults('cors', defaults, undefined), defaults)
  t.same(withDefaults('cors', defaults, { maxAge: 5, credentials: undefined }), { ...defaults, maxAge: 5 })
  t.same(withDefaults('cors', defaults, { extra: 1 }, ['extra']), { ...defaults, extra: 1 })
  t.not(withDefaults('cors', defaults, {}), defaults, 'a copy, never the frozen defaults')
})

t.test('withDefaults(): config: unknown keys are refused with a guess', async (t) => {
  t.throws(() => withDefaults('cors', defaults, { maxAgeSeconds: 5 }), {
    name: 'ConfigError',
    message:
      'cors(): option "maxAgeSeconds" must be a known option; received 5 (number). Unknown option; did you mean "maxAge"?',
  })
  t.throws(() => withDefaults('cors', defaults, { origin: 'x' }), { message: /did you mean "origins"\?/ })
  t.throws(() => withDefaults('cors', defaults, { zzzzzzzz: 1 }), {
    message: /known options are maxAge, origins, credentials/,
  })
})

t.test('withDefaults(): config: options must be an object', async (t) => {
  t.throws(() => withDefaults('cors', defaults, 'x' as never), {
    name: 'TypeError',
    message: /cors\(\): options must be an object; received "x" \(string\)/,
  })
  t.throws(() => withDefaults('cors', defaults, [] as never), { message: /received an array of 0/ })
  t.throws(() => withDefaults('cors', defaults, null as never), { message: /received null/ })
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

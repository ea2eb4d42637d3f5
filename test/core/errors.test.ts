import t from 'tap'
import { ConfigError, HttpError, OrderingError } from '../../lib/index.js'
import { defaultCode, defaultMessage, describeValue } from '../../lib/core/errors.js'

t.test('HttpError(): status, code, expose and details', async (t) => {
  const e = new HttpError(429, 'Slow down', { headers: { 'retry-after': '3' }, details: { retryAfterSeconds: 3 } })
  t.equal(e.status, 429)
  t.equal(e.code, 'too_many_requests')
  t.equal(e.expose, true)
  t.same(e.headers, { 'retry-after': '3' })
  t.same(e.details, { retryAfterSeconds: 3 })
  const server = new HttpError(503, undefined, { cause: new Error('db down') })
  t.equal(server.message, 'Service Unavailable')
  t.equal(server.expose, false)
  t.match(server.cause, { message: 'db down' })
  t.equal(new HttpError(401, 'x', { code: 'token_expired', expose: false }).code, 'token_expired')
  t.equal(new HttpError(418).code, 'client_error', 'an unknown status gets a generic phrase')
  t.equal(new HttpError(599).message, 'Server Error')
})

t.test('HttpError(): refuses a status that is not an error', async (t) => {
  for (const bad of [200, 399, 600, 404.5, Number.NaN]) t.throws(() => new HttpError(bad), RangeError, String(bad))
})

t.test('defaultCode() and defaultMessage(): from the reason phrase', async (t) => {
  t.equal(defaultCode(431), 'request_header_fields_too_large')
  t.equal(defaultMessage(413), 'Content Too Large')
})

t.test('describeValue(): short, typed renderings', async (t) => {
  t.equal(describeValue('1m'), '"1m" (string)')
  t.equal(describeValue('x'.repeat(100)), `"${'x'.repeat(77)}..." (string)`)
  t.equal(describeValue(0), '0 (number)')
  t.equal(describeValue(null), 'null')
  t.equal(describeValue(undefined), 'undefined (undefined)')
  t.equal(
    describeValue(() => 1),
    'a function',
  )
  t.equal(describeValue([1, 2]), 'an array of 2')
  t.equal(describeValue(/a/g), '/a/g (RegExp)')
  t.equal(describeValue({ a: 1, b: 2 }), 'an object (a, b)')
  t.equal(describeValue({}), 'an object (no keys)')
})

t.test('ConfigError and OrderingError: names and codes', async (t) => {
  const c = new ConfigError('cors', 'origins', 'a list', 5, 'Use ["https://a.example"].')
  t.equal(c.name, 'ConfigError')
  t.equal(c.code, 'ERR_MIDDLEWARE_OPTION')
  t.equal(c.middleware, 'cors')
  t.equal(c.option, 'origins')
  t.equal(c.message, 'cors(): option "origins" must be a list; received 5 (number). Use ["https://a.example"].')
  const o = new OrderingError('x')
  t.equal(o.name, 'OrderingError')
  t.equal(o.code, 'ERR_MIDDLEWARE_ORDER')
})

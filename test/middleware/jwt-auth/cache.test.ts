import t from 'tap'
import { acceptableUntil, deepFreeze, TokenCache } from '../../../lib/middleware/jwt-auth/cache.js'

const entry = (expiresAt: number) => ({ claims: {}, expiresAt, scopesOk: true })

t.test('TokenCache: serves an entry until its expiry, then drops it', async (t) => {
  const cache = new TokenCache(10)
  cache.set('a', entry(100))
  t.ok(cache.get('a', 99))
  t.equal(cache.get('a', 100), undefined)
  t.equal(cache.size, 0, 'the expired entry is gone')
  t.equal(cache.get('missing', 0), undefined)
})

t.test('TokenCache: bounded, evicting the least recently used', async (t) => {
  const cache = new TokenCache(3)
  cache.set('a', entry(1e15))
  cache.set('b', entry(1e15))
  cache.set('c', entry(1e15))
  t.ok(cache.get('a', 0), 'a is now the most recently used')
  cache.set('d', entry(1e15))
  t.equal(cache.size, 3)
  t.equal(cache.get('b', 0), undefined, 'b was the least recently used')
  t.ok(cache.get('a', 0))
  t.ok(cache.get('c', 0))
  t.ok(cache.get('d', 0))
})

t.test('acceptableUntil(): the earliest of exp, iat + max age and the cache limit, with tolerance', async (t) => {
  const now = 1_000_000
  t.equal(acceptableUntil({}, now, 5, undefined, 60_000), now + 60_000, 'no exp: the cache limit')
  t.equal(acceptableUntil({ exp: 1010 }, now, 5, undefined, 60_000), 1_015_000, 'exp plus tolerance')
  t.equal(acceptableUntil({ exp: 5000, iat: 990 }, now, 0, 20, 60_000), 1_010_000, 'iat plus max age')
  t.equal(
    acceptableUntil({ exp: 5000 }, now, 0, 20, 60_000),
    now + 60_000,
    'max age without iat: jose refuses those anyway',
  )
  t.equal(
    acceptableUntil({ exp: '1010' as never }, now, 0, undefined, 1_000),
    now + 1_000,
    'a non-numeric exp is ignored',
  )
})

t.test('deepFreeze(): freezes nested objects and arrays, leaves primitives', async (t) => {
  const value = deepFreeze({ a: { b: [1, { c: 2 }] } })
  t.ok(Object.isFrozen(value))
  t.ok(Object.isFrozen(value.a.b))
  t.ok(Object.isFrozen(value.a.b[1]))
  t.equal(deepFreeze(3), 3)
  t.equal(deepFreeze(null), null)
})

import fc from 'fast-check'
import t from 'tap'
import { createCookieCodec } from '../../../lib/middleware/session/cookie-codec.js'

const S1 = 'first-secret-of-at-least-32-bytes-long!'
const S2 = 'second-secret-of-at-least-32-bytes-long'

t.test('createCookieCodec(): sign and verify, bound to the cookie name', async (t) => {
  const codec = createCookieCodec('test', 'sid', [S1], false)
  const value = codec.sign('abc')
  t.match(value, /^abc\.[A-Za-z0-9_-]{43}$/)
  t.same(codec.verify(value), { body: 'abc', key: 0 })
  t.equal(
    createCookieCodec('test', 'other', [S1], false).verify(value),
    undefined,
    'the same secret under another cookie name',
  )
})

t.test('createCookieCodec(): tampered, truncated, unsigned and swapped values are refused', async (t) => {
  const codec = createCookieCodec('test', 'sid', [S1], false)
  const a = codec.seal('1|2|{"user":"alice"}')
  const b = codec.seal('1|2|{"user":"bob"}')
  const [bodyA, sigA] = a.split('.') as [string, string]
  const [bodyB, sigB] = b.split('.') as [string, string]
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
  const refused = [
    flip(a, 3),
    flip(a, a.length - 1),
    flip(a, a.length - 20),
    a.slice(0, -1),
    a.slice(0, -43),
    a.slice(0, -44),
    bodyA,
    `${bodyA}.`,
    `.${sigA}`,
    '',
    `${bodyA}.${sigB}`,
    `${bodyB}.${sigA}`,
    `${bodyA}x.${sigA}`,
    `${bodyA}.${sigA}A`,
    `${bodyA}.${sigA.slice(0, -1)}!`,
    `${bodyA}.${'A'.repeat(43)}`,
    `${Buffer.from('1|2|{"user":"bob"}').toString('base64url')}`,
  ]
  for (const value of refused) t.equal(codec.open(value), undefined, JSON.stringify(value.slice(0, 30)))
  t.same(codec.open(a), { plain: '1|2|{"user":"alice"}', key: 0 })
})

t.test(
  'createCookieCodec(): the last signature character has spare bits; only the canonical one verifies',
  async (t) => {
    const codec = createCookieCodec('test', 'sid', [S1], false)
    const value = codec.sign('body')
    const last = value[value.length - 1]!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sameBits = [...alphabet].filter((c) => c !== last && alphabet.indexOf(c) >> 4 === alphabet.indexOf(last) >> 4)
    t.equal(sameBits.length, 15)
    for (const c of sameBits) t.equal(codec.verify(value.slice(0, -1) + c), undefined, c)
  },
)

t.test('createCookieCodec(): rotation signs with the first secret and verifies with all', async (t) => {
  const old = createCookieCodec('test', 'sid', [S1], false)
  const rotated = createCookieCodec('test', 'sid', [S2, S1], false)
  const onlyNew = createCookieCodec('test', 'sid', [S2], false)
  const fromOld = old.seal('x')
  t.same(rotated.open(fromOld), { plain: 'x', key: 1 }, 'old cookies still open, flagged as old')
  const fromRotated = rotated.seal('y')
  t.same(onlyNew.open(fromRotated), { plain: 'y', key: 0 })
  t.equal(onlyNew.open(fromOld), undefined, 'after the old secret is dropped')
  t.equal(old.open(fromRotated), undefined)
})

t.test('createCookieCodec(): encryption hides the data, authenticates it, and rotates', async (t) => {
  const codec = createCookieCodec('test', 'sid', [S1], true)
  const sealed = codec.seal('1|2|{"card":"4111"}')
  t.notMatch(Buffer.from(sealed.split('.')[0]!, 'base64url').toString('latin1'), /4111/)
  t.same(codec.open(sealed), { plain: '1|2|{"card":"4111"}', key: 0 })
  t.not(codec.seal('same'), codec.seal('same'), 'a random IV per cookie')
  t.equal(sealed.length, codec.sealedLength(Buffer.byteLength('1|2|{"card":"4111"}')))
  t.equal(
    createCookieCodec('test', 'sid', [S1], false).open(sealed)?.plain.includes('4111') ?? false,
    false,
    'the plain codec cannot read it',
  )
  const rotated = createCookieCodec('test', 'sid', [S2, S1], true)
  t.same(rotated.open(sealed), { plain: '1|2|{"card":"4111"}', key: 1 })
  // A valid MAC over a body too short to be ciphertext (only a secret holder can make one).
  t.equal(codec.open(codec.sign('AAAA')), undefined)
  t.equal(codec.open(codec.sign(Buffer.alloc(40).toString('base64url'))), undefined, 'a valid MAC over bad ciphertext')
})

t.test(
  'createCookieCodec(): property: seal/open round-trips, sealedLength is exact, any change is refused',
  async (_t) => {
    for (const encrypt of [false, true]) {
      const codec = createCookieCodec('test', 'sid', [S1], encrypt)
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), fc.nat(), (plain, at) => {
          const sealed = codec.seal(plain)
          if (codec.open(sealed)?.plain !== plain) return false
          if (sealed.length !== codec.sealedLength(Buffer.byteLength(plain))) return false
          const i = at % sealed.length
          const changed = sealed.slice(0, i) + (sealed[i] === 'x' ? 'y' : 'x') + sealed.slice(i + 1)
          return codec.open(changed) === undefined
        }),
        { numRuns: 200 },
      )
    }
  },
)

t.test('createCookieCodec(): config: secrets', async (t) => {
  t.throws(() => createCookieCodec('session', 'sid', [], false), {
    name: 'ConfigError',
    message:
      /session\(\): option "secrets" must be at least one secret; received an array of 0\. Pass secrets: \[process\.env\.SESSION_SECRET\]/,
  })
  t.throws(() => createCookieCodec('session', 'sid', undefined, false), {
    name: 'ConfigError',
    message: /option "secrets" must be at least one secret; received undefined \(undefined\)\. Pass secrets/,
  })
  t.throws(() => createCookieCodec('session', 'sid', ['short'], false), {
    name: 'ConfigError',
    message: /option "secrets" must be secrets of at least 32 bytes; received "5 bytes \(secret 1\)".*randomBytes/,
  })
  t.throws(() => createCookieCodec('session', 'sid', [S1, 'x'], false), {
    name: 'ConfigError',
    message: /\(secret 2\)/,
  })
  t.throws(() => createCookieCodec('session', 'sid', [42], false), {
    name: 'ConfigError',
    message:
      /option "secrets" must be strings or bytes; received 42 \(number\)\. Pass secrets: \[process\.env\.SESSION_SECRET\].*randomBytes/,
  })
  t.ok(createCookieCodec('session', 'sid', S1, false), 'a single secret')
  t.ok(createCookieCodec('session', 'sid', [Buffer.alloc(32, 1)], false), 'bytes')
})

import fc from 'fast-check'
import t from 'tap'
import {
  ACCESS_LOG_MAX_HEADERS,
  entryLine,
  isoTime,
  jsonNumber,
  jsonString,
  optional,
  pickHeaders,
  round,
  stripQuery,
  toLine,
  truncate,
  type AccessLogEntry,
} from '../../../lib/middleware/access-log/format.js'

t.test('stripQuery(): drop keeps the path; redact keeps names and hides values', async (t) => {
  t.equal(stripQuery('/a/b?x=1&y=2', 'drop'), '/a/b')
  t.equal(stripQuery('/a/b', 'drop'), '/a/b')
  t.equal(stripQuery('/a/b', 'redact'), '/a/b')
  t.equal(stripQuery('/s?q=secret&flag&e=&t=a=b', 'redact'), '/s?q=[redacted]&flag&e=[redacted]&t=[redacted]')
  t.equal(stripQuery('/?', 'redact'), '/?')
})

t.test('pickHeaders(): all or selected, redacted, arrays joined, bounded', async (t) => {
  const redact = new Set(['authorization', 'set-cookie'])
  t.same(
    pickHeaders(
      { a: '1', authorization: 'Bearer x', 'set-cookie': ['s=1', 't=2'], n: 5, missing: undefined },
      true,
      redact,
      100,
    ),
    { a: '1', authorization: '[redacted]', 'set-cookie': '[redacted]', n: '5' },
  )
  t.same(pickHeaders({ a: '1', b: ['x', 'y'], c: '3' }, new Set(['b', 'z']), redact, 100), { b: 'x, y' })
  const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`h${i}`, 'v'.repeat(50)]))
  const picked = pickHeaders(many, true, redact, 10)
  t.equal(Object.keys(picked).length, ACCESS_LOG_MAX_HEADERS)
  t.equal(picked.h0, `${'v'.repeat(10)}…`)
})

t.test('truncate(), optional(), round()', async (t) => {
  t.equal(truncate('abcdef', 6), 'abcdef')
  t.equal(truncate('abcdefg', 6), 'abcdef…')
  t.equal(optional(undefined, 3), undefined)
  t.equal(optional('abcd', 3), 'abc…')
  t.equal(round(1.23456789), 1.235)
})

t.test(
  'toLine(): any strings give one line of valid JSON without raw controls or line separators (property)',
  async (t) => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string({ unit: 'binary' })), (entry) => {
        const line = toLine(entry)
        return (
          !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(line) &&
          JSON.stringify(JSON.parse(line)) === JSON.stringify(entry)
        )
      }),
    )
    t.equal(toLine({ a: 'x\u009b[31m\u2028' }), '{"a":"x\\u009b[31m\\u2028"}')
    t.equal(toLine({ a: 'plain' }), '{"a":"plain"}')
  },
)

t.test('entryLine(): the same line as toLine() of the entry, for any field values (property)', async (t) => {
  // Any code points, with those that need escaping (or are on the edge of it) made common.
  const edges = fc.constantFrom(
    '"',
    '\\',
    '\n',
    '\u0000',
    '\u001f',
    ' ',
    '~',
    '\u007f',
    '\u009f',
    '\u00a0',
    '\u2027',
    '\u2028',
    '\u2029',
    '\ud800',
    '\udfff',
    '\ud83d\ude00',
  )
  const text = fc.string({
    unit: fc.oneof(edges, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
    maxLength: 40,
  })
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
  const number = fc.oneof(fc.double(), fc.integer())
  const headers = maybe(fc.dictionary(text, text, { maxKeys: 3 }))
  // Built in the order of AccessLogEntry, as the access log's Entry class declares its fields.
  const entry = fc.record(
    {
      time: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
      level: fc.constantFrom('info', 'warn', 'error'),
      method: text,
      path: text,
      status: fc.integer({ min: 100, max: 599 }),
      outcome: fc.constantFrom('finished', 'aborted', 'error'),
      durationMs: number,
      ttfbMs: maybe(number),
      bytesOut: maybe(fc.nat()),
      bytesIn: fc.nat(),
      clientIp: text,
      requestId: maybe(text),
      traceId: maybe(text),
      spanId: maybe(text),
      userId: maybe(text),
      userAgent: maybe(text),
      referer: maybe(text),
      error: maybe(text),
      requestHeaders: headers,
      responseHeaders: headers,
      droppedLines: maybe(fc.nat()),
    },
    { noNullPrototype: true },
  )
  fc.assert(
    fc.property(entry, (e) => entryLine(e as AccessLogEntry) === toLine(e)),
    { numRuns: 2000 },
  )
  t.pass('2000 random entries')
  // Plain values take the fast path, unchanged.
  const plain = {
    time: '2026-01-01T00:00:00.000Z',
    level: 'info',
    method: 'GET',
    path: '/a',
    status: 200,
    outcome: 'finished',
    durationMs: 1.5,
    bytesIn: 0,
    clientIp: '::1',
  } as const
  t.equal(entryLine(plain), JSON.stringify(plain))
  t.equal(jsonString('caf\u00e9 \u009b \u2028 "q" \ud83d'), toLine('caf\u00e9 \u009b \u2028 "q" \ud83d'))
})

t.test(
  'entryLine(): values that repeat from line to line, change and come back, are written as toLine() writes them (property)',
  async (t) => {
    // The method, path and client address are kept from the line before when they repeat: a
    // small pool makes repeats common, with values that need escaping among them.
    const pool = fc.constantFrom('GET', 'POST', '/json', '/a"b', '/\u2028', '', '127.0.0.1', '::1', 'caf\u00e9')
    const entry = fc.record({ method: pool, path: pool, clientIp: pool }).map((v) => ({
      time: '2026-01-01T00:00:00.000Z',
      level: 'info' as const,
      method: v.method,
      path: v.path,
      status: 200,
      outcome: 'finished' as const,
      durationMs: 1,
      bytesIn: 0,
      clientIp: v.clientIp,
    }))
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 30 }), (entries) =>
        entries.every((e) => entryLine(e) === toLine(e)),
      ),
      { numRuns: 1000 },
    )
    t.pass('1000 sequences of lines')
  },
)

t.test(
  'jsonNumber(): the text JSON.stringify gives, from integers for durations rounded to the microsecond',
  async (t) => {
    // Rounded durations (the fast path), whole numbers, and any double (the fallback).
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 + 5000 }),
        (k) => jsonNumber(k / 1000) === JSON.stringify(k / 1000),
      ),
    )
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        (ms) => jsonNumber(round(ms)) === JSON.stringify(round(ms)),
      ),
    )
    fc.assert(fc.property(fc.double(), (x) => jsonNumber(x) === JSON.stringify(x)))
    for (const x of [
      0,
      -0,
      0.001,
      0.5,
      1.25,
      200,
      1.001,
      2147483.647,
      2147483.648,
      -1.5,
      1e21,
      1e-7,
      Number.NaN,
      Infinity,
    ])
      t.equal(jsonNumber(x), JSON.stringify(x), `${x}`)
  },
)

t.test('isoTime(): the ISO date of the millisecond, fractions truncated, as Date gives it', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 4e12, noNaN: true }), { maxLength: 20 }), (times) =>
      times.every((ms) => isoTime(ms) === new Date(ms).toISOString()),
    ),
  )
  t.equal(isoTime(1_700_000_000_123.9), '2023-11-14T22:13:20.123Z')
  t.equal(isoTime(1_700_000_000_123.1), '2023-11-14T22:13:20.123Z', 'the same millisecond')
  t.equal(isoTime(1_700_000_000_124), '2023-11-14T22:13:20.124Z')
  // Lines come out of arrival order: within a second, across its edges, and back again.
  const base = 1_700_000_000_000
  for (const ms of [
    base + 999,
    base + 1000,
    base + 500.7,
    base + 1001,
    base - 1,
    base,
    base + 1999,
    0,
    253_402_300_800_000,
  ])
    t.equal(isoTime(ms), new Date(ms).toISOString(), `${ms}`)
})

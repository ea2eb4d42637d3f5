import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import * as zlib from 'node:zlib'
import t from 'tap'
import {
  BODIES_PER_THREAD,
  ReusedDeflaters,
  threadPoolSize,
} from '../../../lib/middleware/compression/reused-deflaters.js'

// The tiers of encoders.ts: ≤ 1 KiB, ≤ 4 KiB, ≤ 16 KiB, ≤ 64 KiB, larger.
const tierOptions: zlib.ZlibOptions[] = [
  { level: 6, windowBits: 10, memLevel: 4 },
  { level: 6, windowBits: 12, memLevel: 6 },
  { level: 6, windowBits: 14 },
  { level: 6, windowBits: 15 },
  { level: 6 },
]

/** A pool whose factory remembers every stream it made (real zlib streams, only counted). */
/** `limit` undefined: the pool's default bound. */
function countingPool(coding: 'gzip' | 'deflate', limit: number | undefined, idleMs?: number) {
  const made: Array<zlib.Gzip | zlib.Deflate> = []
  const pool = new ReusedDeflaters(
    (options) => {
      const stream = coding === 'gzip' ? zlib.createGzip(options) : zlib.createDeflate(options)
      made.push(stream)
      return stream
    },
    tierOptions,
    limit,
    idleMs,
  )
  return { pool, made }
}

const encode = (pool: ReusedDeflaters, body: Buffer, tier: number) =>
  new Promise<Buffer>((ok, fail) => pool.encode(body, tier, (err, out) => (err ? fail(err) : ok(out))))

const json = (length: number) =>
  Buffer.from(
    JSON.stringify(Array.from({ length: 4000 }, (_, i) => ({ id: i, name: `project ${i}`, open: i % 3 > 0 }))).slice(
      0,
      length,
    ),
  )

t.test(
  'ReusedDeflaters: every body, coding and tier decodes to its own bytes, many at once and one after another',
  async (t) => {
    const bodies = [
      Buffer.alloc(0),
      json(1),
      json(1024),
      json(1025),
      json(4096),
      json(16_000),
      json(65_536),
      Buffer.from(randomBytes(150_000).toString('base64')), // output over zlib's 16 KiB chunk
    ]
    for (const [coding, decode] of [
      ['gzip', zlib.gunzipSync],
      ['deflate', zlib.inflateSync],
    ] as const) {
      const { pool, made } = countingPool(coding, 3)
      for (let round = 0; round < 3; round++) {
        // All at once: more bodies than encoders, every tier, bodies of a tier on reused encoders.
        const outs = await Promise.all(bodies.map((body, i) => encode(pool, body, i % tierOptions.length)))
        for (const [i, out] of outs.entries())
          t.ok(decode(out).equals(bodies[i]!), `${coding} round ${round} body ${i} at once`)
        for (const [i, body] of bodies.entries()) {
          const out = await encode(pool, body, 1)
          t.ok(decode(out).equals(body), `${coding} round ${round} body ${i} alone`)
        }
      }
      t.ok(made.length <= 3 * tierOptions.length, `${coding}: ${made.length} encoders for 48 bodies`)
      t.equal(pool.busy, 0)
      t.equal(pool.waiting, 0)
    }
  },
)

t.test('ReusedDeflaters: at most `limit` bodies are in zlib at once; the rest wait in order', async (t) => {
  const { pool, made } = countingPool('gzip', 2)
  const body = json(3000)
  const finished: number[] = []
  let most = 0
  const all = Array.from({ length: 20 }, (_, i) =>
    encode(pool, body, 1).then((out) => {
      finished.push(i)
      t.ok(zlib.gunzipSync(out).equals(body))
    }),
  )
  t.equal(pool.busy, 2, 'two in zlib')
  t.equal(pool.waiting, 18, 'eighteen waiting')
  const watch = setInterval(() => {
    most = Math.max(most, pool.busy)
  }, 0)
  await Promise.all(all)
  clearInterval(watch)
  t.ok(most <= 2, 'never more than two in zlib')
  t.equal(made.length, 2, 'two encoders made for twenty bodies')
  t.same(pool.idleCounts(), [0, 2, 0, 0, 0])
  // Waiting bodies start in arrival order; with two in zlib at once, each finishes within one of its place.
  t.ok(
    finished.every((n, place) => Math.abs(n - place) <= 1),
    `finished in order: ${finished.join(',')}`,
  )
})

t.test('ReusedDeflaters: by default each thread-pool thread has bodies queued behind the one it is on', async (t) => {
  // One body per thread left each thread asleep after every body until the event loop handed
  // it the next: more CPU per body on a busy core (reused-deflaters.ts, on bounds).
  t.ok(BODIES_PER_THREAD >= 2, 'more than one body per thread')
  const { pool, made } = countingPool('gzip', undefined)
  const bound = threadPoolSize() * BODIES_PER_THREAD
  const body = json(3000)
  const all = Array.from({ length: bound + 5 }, () =>
    encode(pool, body, 1).then((out) => t.ok(zlib.gunzipSync(out).equals(body))),
  )
  t.equal(pool.busy, bound, `${BODIES_PER_THREAD} per thread in zlib at once`)
  t.equal(pool.waiting, 5, 'the rest waiting')
  await Promise.all(all)
  t.equal(made.length, bound, 'no more encoders than the bound')
  t.same(pool.idleCounts(), [0, bound, 0, 0, 0])
})

t.test('ReusedDeflaters: each callback runs in the async context of the request that asked', async (t) => {
  const { pool, made } = countingPool('gzip', 1)
  const als = new AsyncLocalStorage<string>()
  const body = json(2000)
  const asked = ['first', 'second', 'third'].map(
    (name) =>
      new Promise<string | undefined>((ok) => als.run(name, () => pool.encode(body, 1, () => ok(als.getStore())))),
  )
  // The encoder's own events run in the context it was made in: the pool's, not the first
  // request's, which a pooled encoder would otherwise keep alive as long as itself.
  const encoderContexts: Array<string | undefined> = []
  made[0]!.on('data', () => encoderContexts.push(als.getStore()))
  const seen = await Promise.all(asked)
  // One encoder served all three: the first made it, the others waited for it and reused it.
  t.equal(made.length, 1)
  t.same(seen, ['first', 'second', 'third'])
  t.same(encoderContexts, [undefined, undefined, undefined])
})

t.test(
  'ReusedDeflaters: an encoder destroyed while it works fails its body, and a new one takes the next',
  async (t) => {
    const { pool, made } = countingPool('gzip', 1)
    const body = json(60_000)
    const failed = encode(pool, body, 3)
    const next = encode(pool, body, 3)
    made[0]!.destroy(new Error('broken by hand'))
    await t.rejects(failed, { message: 'broken by hand' })
    t.ok(zlib.gunzipSync(await next).equals(body), 'the body after it is whole')
    t.equal(made.length, 2, 'the broken encoder was not reused')
    t.same(pool.idleCounts(), [0, 0, 0, 1, 0])
    // Destroyed without an error: the body fails all the same, never an empty or cut result.
    const third = encode(pool, body, 3)
    made[1]!.destroy()
    await t.rejects(third, { message: /destroyed/ })
    // Destroyed while idle: passed over, and a new encoder takes the body.
    t.ok(zlib.gunzipSync(await encode(pool, body, 3)).equals(body))
    t.same(pool.idleCounts(), [0, 0, 0, 1, 0])
    made[2]!.destroy()
    t.ok(zlib.gunzipSync(await encode(pool, body, 3)).equals(body), 'a body after an idle encoder was destroyed')
    t.equal(made.length, 4)
  },
)

t.test('ReusedDeflaters: idle encoders are closed, by a timer that keeps nothing alive', async (t) => {
  const { pool, made } = countingPool('deflate', 4, 40)
  const body = json(5000)
  await Promise.all([encode(pool, body, 2), encode(pool, body, 2), encode(pool, body, 0)])
  t.same(pool.idleCounts(), [1, 0, 2, 0, 0])
  t.notOk(
    process.getActiveResourcesInfo().includes('Timeout'),
    'the sweep timer does not keep the process alive (unref)',
  )
  // Used again within the idle time: kept.
  await sleep(25)
  await encode(pool, body, 2)
  await sleep(25)
  t.same(pool.idleCounts(), [1, 0, 2, 0, 0], 'still open after a use')
  await sleep(150)
  t.same(pool.idleCounts(), [0, 0, 0, 0, 0], 'closed once idle')
  t.ok(
    made.every((stream) => stream.destroyed),
    'every encoder closed',
  )
  // And the pool works on after the sweep, with new encoders.
  t.ok(zlib.inflateSync(await encode(pool, body, 2)).equals(body))
  t.equal(made.length, 4)
})

t.test('threadPoolSize(): what libuv reads from UV_THREADPOOL_SIZE', async (t) => {
  t.equal(threadPoolSize(undefined), 4)
  t.equal(threadPoolSize(''), 4)
  t.equal(threadPoolSize('8'), 8)
  t.equal(threadPoolSize('0'), 4)
  t.equal(threadPoolSize('-2'), 4)
  t.equal(threadPoolSize('lots'), 4)
  t.equal(threadPoolSize('5000'), 1024)
})

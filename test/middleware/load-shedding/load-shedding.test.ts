import { spawn } from 'node:child_process'
import t, { type Test } from 'tap'
import {
  compose,
  errorBoundary,
  loadShedding,
  timeout,
  type LoadShedding,
  type LoadSheddingOptions,
  type RawHandler,
  type ShedReason,
} from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { openSocket, rawGet } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { silenceWarningOutput, tick, until } from '../../helpers/wait.js'

/** A shedder closed when `t` ends, with the reasons it shed for. */
function shedder(t: Test, options: LoadSheddingOptions): { shedding: LoadShedding; reasons: ShedReason[] } {
  const reasons: ShedReason[] = []
  const shedding = loadShedding({
    onShed: (_req, reason) => {
      reasons.push(reason)
    },
    ...options,
  })
  t.teardown(() => shedding.close())
  return { shedding, reasons }
}

/** Keep the event loop busy for `ms`: the overload under test. */
function blockFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    /* busy */
  }
}

// The probe runs in its own process, so the server's blocked event loop cannot delay it:
// it sends a request every 20 ms and prints one line per answer, with the time it came.
const PROBE = `
const [url, durationMs] = process.argv.slice(1)
const started = Date.now()
const pending = new Set()
const probe = (path) => {
  const p = fetch(url + path).then(async (res) => {
    await res.arrayBuffer()
    console.log(JSON.stringify({ at: Date.now(), path, status: res.status, retryAfter: res.headers.get('retry-after') }))
  }, (err) => console.log(JSON.stringify({ at: Date.now(), path, error: String(err) })))
  pending.add(p); p.finally(() => pending.delete(p))
}
const timer = setInterval(() => {
  probe('/')
  if (Math.round((Date.now() - started) / 20) % 5 === 0) probe('/health')
  if (Date.now() - started > Number(durationMs)) { clearInterval(timer); Promise.all(pending).then(() => console.log('DONE')) }
}, 20)
`

t.test(
  'loadShedding(): a 1.5 s synchronous block, probed from another process: 503s after it, normal answers once it recovers',
  { timeout: 60_000 },
  async (t) => {
    const { shedding } = shedder(t, { maxEventLoopDelayMs: 200, sampleIntervalMs: 100, exempt: ['/health'] })
    const url = await serve(
      t,
      compose(shedding)((req, res) => res.end(req.url)),
    )
    const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, url, '4500'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    t.teardown(() => {
      if (child.exitCode === null) child.kill()
    })
    let output = ''
    const done = new Promise<void>((ok) =>
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString()
        if (output.includes('DONE')) ok()
      }),
    )
    // Wait for the probe to get normal answers, then block.
    while (!/"status":200/.test(output)) await tick(20)
    await tick(500)
    const blockStart = Date.now()
    blockFor(1500)
    const blockEnd = Date.now()
    await done
    const lines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as { at: number; path: string; status?: number; retryAfter: string | null; error?: string },
      )
    const main = lines.filter((l) => l.path === '/')
    const before = main.filter((l) => l.at < blockStart)
    const justAfter = main.filter((l) => l.at >= blockEnd && l.at < blockEnd + 1000)
    const recovered = main.filter((l) => l.at > blockEnd + 1500)
    t.ok(before.length > 5 && before.every((l) => l.status === 200), 'normal answers before the block')
    const shed = justAfter.filter((l) => l.status === 503)
    t.ok(shed.length > 0, `503s right after the block (${shed.length} of ${justAfter.length})`)
    t.ok(
      shed.every((l) => l.retryAfter === '1'),
      'every 503 says when to retry',
    )
    t.ok(recovered.length > 5 && recovered.every((l) => l.status === 200), 'normal answers once the loop recovered')
    t.ok(
      lines.filter((l) => l.path === '/health').every((l) => l.status === 200),
      'the exempt health check is never shed',
    )
    t.same(
      lines.filter((l) => l.error),
      [],
      'no request failed',
    )
    t.equal(shedding.stats().overloaded, undefined)
  },
)

t.test("loadShedding(): the 503 is the library's error shape, code overloaded, with Retry-After", async (t) => {
  const { shedding, reasons } = shedder(t, { maxEventLoopDelayMs: 0, maxRssBytes: 1, retryAfterSeconds: 5 })
  const url = await serve(
    t,
    compose(shedding)((_req, res) => res.end('served')),
  )
  t.equal((await rawGet(url)).status, 200, 'not overloaded before the first sample')
  t.equal(shedding.sample().overloaded, 'rss')
  const res = await httpRequest(url)
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '5')
  t.same(JSON.parse(res.text), { status: 503, code: 'overloaded', message: 'The server is overloaded; retry later' })
  t.same(reasons, ['rss'])
  t.equal(shedding.stats().shed, 1)
})

t.test('loadShedding(): heap and event-loop utilisation thresholds', async (t) => {
  const heap = shedder(t, { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 1 })
  t.equal(heap.shedding.sample().overloaded, 'heapUsed')
  t.ok(heap.shedding.stats().heapUsedBytes > 1)
  const elu = shedder(t, { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0.5 })
  elu.shedding.sample()
  blockFor(300)
  const stats = elu.shedding.sample()
  t.equal(stats.overloaded, 'eventLoopUtilization', `utilisation ${stats.eventLoopUtilization}`)
  await tick(300)
  t.equal(elu.shedding.sample().overloaded, undefined, 'an idle window recovers')
})

t.test('loadShedding(): the event-loop delay signal sees a block when the sampler runs after it', async (t) => {
  const { shedding } = shedder(t, { maxEventLoopDelayMs: 100, sampleIntervalMs: 50 })
  await tick(120)
  blockFor(400)
  await tick(5)
  const stats = shedding.stats()
  t.equal(stats.overloaded, 'eventLoopDelay')
  t.ok(stats.eventLoopDelayMs >= 300, `delay ${stats.eventLoopDelayMs} ms`)
  await tick(200)
  t.equal(shedding.stats().overloaded, undefined)
})

t.test('loadShedding(): exempt paths pass while overloaded, matched on the normal form', async (t) => {
  const { shedding } = shedder(t, { maxEventLoopDelayMs: 0, maxRssBytes: 1, exempt: ['/health', '/status/*'] })
  shedding.sample()
  const url = await serve(
    t,
    compose(shedding)((req, res) => res.end(req.url)),
  )
  for (const path of ['/health', '/HEALTH', '/health/', '/status/db', '/health?x=1'])
    t.equal((await rawGet(url, path)).status, 200, path)
  for (const path of ['/', '/healthz', '/status-page', '/%zz']) t.equal((await rawGet(url, path)).status, 503, path)
  // Ambiguous targets are shed whatever their normal form: routers serve /api/..%2fhealth as /api/:x.
  for (const path of [
    '//status/db',
    '/%68ealth',
    '/api/..%2fhealth',
    '/api/x/../../health',
    '/api/%2e%2e/health',
    '/health;x',
  ]) {
    t.equal((await rawGet(url, path)).status, 503, path)
  }
})

t.test('loadShedding(): ambiguousPaths "refuse" answers ambiguous targets 400, loaded or not', async (t) => {
  for (const overloaded of [false, true]) {
    // Without a threshold nothing is sampled: never overloaded.
    const { shedding } = shedder(t, {
      maxEventLoopDelayMs: 0,
      maxRssBytes: overloaded ? 1 : 0,
      exempt: ['/health'],
      ambiguousPaths: 'refuse',
    })
    if (overloaded) shedding.sample()
    const url = await serve(
      t,
      compose(shedding)((req, res) => res.end(req.url)),
    )
    for (const path of ['/api/..%2fhealth', '//health', '/%zz']) {
      const res = await rawGet(url, path)
      t.equal(res.status, 400, `${path}, overloaded ${overloaded}`)
      t.match(JSON.parse(res.body.toString()), { code: 'ambiguous_path' })
    }
    t.equal((await rawGet(url, '/health')).status, 200)
    t.equal((await rawGet(url, '/api')).status, overloaded ? 503 : 200)
  }
})

t.test('loadShedding(): maxInFlight with a small queue: run, wait, refuse; the count returns to 0', async (t) => {
  const { shedding, reasons } = shedder(t, {
    maxEventLoopDelayMs: 0,
    maxInFlight: 2,
    maxQueue: 1,
    queueTimeoutMs: 5000,
  })
  const release: Array<() => void> = []
  const order: string[] = []
  const url = await serve(
    t,
    compose(shedding)(async (req, res) => {
      order.push(`start ${req.url}`)
      await new Promise<void>((ok) => release.push(ok))
      res.end(req.url)
    }),
  )
  const a = rawGet(url, '/a')
  await until(() => shedding.stats().inFlight === 1)
  const b = rawGet(url, '/b')
  await until(() => shedding.stats().inFlight === 2)
  const c = rawGet(url, '/c')
  await until(() => shedding.stats().queued === 1)
  t.same(shedding.stats(), { ...shedding.stats(), inFlight: 2, queued: 1 })
  const d = await rawGet(url, '/d')
  t.equal(d.status, 503, 'beyond the queue: refused at once')
  t.same(reasons, ['inFlight'])
  release.shift()!()
  t.equal((await a).status, 200)
  await until(() => order.length === 3)
  t.same(order, ['start /a', 'start /b', 'start /c'], 'the queued request started when a slot freed')
  release.shift()!()
  release.shift()!()
  t.equal((await b).status, 200)
  t.equal((await c).status, 200)
  await until(() => shedding.stats().inFlight === 0)
  t.equal(shedding.stats().inFlight, 0)
  t.equal(shedding.stats().queued, 0)
})

t.test('loadShedding(): a request waiting too long in the queue gets 503 (queueTimeout)', async (t) => {
  const { shedding, reasons } = shedder(t, { maxEventLoopDelayMs: 0, maxInFlight: 1, maxQueue: 5, queueTimeoutMs: 30 })
  let release!: () => void
  const url = await serve(
    t,
    compose(shedding)(async (_req, res) => {
      await new Promise<void>((ok) => {
        release = ok
      })
      res.end('done')
    }),
  )
  const first = rawGet(url)
  await until(() => shedding.stats().inFlight === 1)
  const second = await rawGet(url)
  t.equal(second.status, 503)
  t.same(reasons, ['queueTimeout'])
  release()
  t.equal((await first).status, 200)
  await until(() => shedding.stats().inFlight === 0)
  t.same([shedding.stats().inFlight, shedding.stats().queued], [0, 0])
})

t.test('loadShedding(): a client leaving while queued frees its place', async (t) => {
  const { shedding } = shedder(t, { maxEventLoopDelayMs: 0, maxInFlight: 1, maxQueue: 5, queueTimeoutMs: 5000 })
  let release!: () => void
  let started = 0
  const url = await serve(
    t,
    compose(shedding)(async (_req, res) => {
      started++
      await new Promise<void>((ok) => {
        release = ok
      })
      res.end('done')
    }),
  )
  const first = rawGet(url)
  await until(() => shedding.stats().inFlight === 1)
  const socket = await openSocket(url)
  socket.write('GET /queued HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => shedding.stats().queued === 1)
  t.equal(shedding.stats().queued, 1)
  socket.destroy()
  await until(() => shedding.stats().queued === 0)
  t.equal(shedding.stats().queued, 0)
  release()
  await first
  await until(() => shedding.stats().inFlight === 0)
  t.equal(started, 1, 'the departed request never ran')
  t.equal(shedding.stats().inFlight, 0)
})

t.test('loadShedding(): in flight returns to exactly 0 after finish, abort, error and timeout', async (t) => {
  const { shedding } = shedder(t, { maxEventLoopDelayMs: 0, maxInFlight: 1000, maxQueue: 10 })
  const handler: RawHandler = async (req, res) => {
    if (req.url === '/finish') res.end('ok')
    else if (req.url === '/throw') throw new Error('boom')
    else if (req.url === '/destroy') {
      res.write('x')
      res.destroy(new Error('broken'))
    }
    // /timeout and /abort never answer: the timeout or the client ends them.
  }
  const url = await serve(
    t,
    compose(errorBoundary({ onError: () => undefined }), shedding, timeout({ ms: 30 }))(handler),
  )
  const jobs: Array<Promise<unknown>> = []
  for (let i = 0; i < 40; i++) {
    const path = ['/finish', '/throw', '/destroy', '/timeout', '/abort'][i % 5]!
    if (path === '/abort') {
      jobs.push(
        openSocket(url).then(async (socket) => {
          socket.write('GET /abort HTTP/1.1\r\nHost: x\r\n\r\n')
          await tick(10)
          socket.destroy()
        }),
      )
    } else jobs.push(rawGet(url, path).catch(() => undefined))
  }
  let peak = 0
  for (let i = 0; i < 200 && peak === 0; i++) {
    peak = shedding.stats().inFlight
    await tick(1)
  }
  t.ok(peak > 0, 'some were in flight')
  await Promise.all(jobs)
  await until(() => shedding.stats().inFlight === 0)
  t.equal(shedding.stats().inFlight, 0)
  t.equal(shedding.stats().queued, 0)
})

t.test('loadShedding(): pipelines cut by the client give back the slots of their queued requests', async (t) => {
  // Node never emits 'close' on a pipelined response still queued when the connection
  // goes; if the slot waited for it, three cut pipelines would hold 8 slots for good.
  const { shedding, reasons } = shedder(t, { maxEventLoopDelayMs: 0, maxInFlight: 8, maxQueue: 0 })
  let started = 0
  const url = await serve(
    t,
    compose(shedding)((req, res) => {
      started++
      // The first answer of each pipeline stalls, so the others stay queued.
      if (req.url === '/0') res.write('started')
      else res.end('queued answer')
    }),
  )
  for (let pipeline = 0; pipeline < 3; pipeline++) {
    const socket = await openSocket(url)
    socket.on('error', () => undefined)
    const before = started
    socket.write(['/0', '/1', '/2', '/3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''))
    await until(() => started === before + 4)
    socket.resetAndDestroy()
    await until(() => shedding.stats().inFlight === 0)
    t.equal(shedding.stats().inFlight, 0, `pipeline ${pipeline}: every slot came back`)
  }
  const answers = await Promise.all(Array.from({ length: 8 }, () => rawGet(url, '/1')))
  t.same(
    answers.map((a) => a.status),
    Array(8).fill(200),
    'eight requests at once still fit',
  )
  t.same(reasons, [])
})

t.test('loadShedding(): onShed errors are reported, the 503 still goes out', async (t) => {
  const seen: Error[] = []
  const listener = (w: Error) => seen.push(w)
  silenceWarningOutput(t)
  process.on('warning', listener)
  t.teardown(() => {
    process.off('warning', listener)
  })
  const shedding = loadShedding({
    maxEventLoopDelayMs: 0,
    maxRssBytes: 1,
    onShed: () => {
      throw new Error('metrics down')
    },
  })
  t.teardown(() => shedding.close())
  shedding.sample()
  const url = await serve(
    t,
    compose(shedding)((_req, res) => res.end()),
  )
  t.equal((await rawGet(url)).status, 503)
  await tick()
  t.ok(seen.some((w) => /loadShedding\(\): onShed threw: metrics down/.test(w.message)))
})

t.test('loadShedding(): close() stops sampling and shedding by process signals', async (t) => {
  const { shedding } = shedder(t, { maxEventLoopDelayMs: 0, maxRssBytes: 1 })
  shedding.sample()
  const url = await serve(
    t,
    compose(shedding)((_req, res) => res.end('ok')),
  )
  t.equal((await rawGet(url)).status, 503)
  shedding.close()
  shedding.close()
  t.equal(shedding.sample().overloaded, undefined)
  t.equal((await rawGet(url)).status, 200)
})

t.test('loadShedding(): without limits it only passes requests through', async (t) => {
  const shedding = loadShedding({ maxEventLoopDelayMs: 0 })
  t.match(compose(shedding).explain(), /loadShedding \(no limits\)/)
  const url = await serve(
    t,
    compose(shedding)((req, res) => {
      if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else if (req.url === '/writehead') {
        res.writeHead(201, { 'x-given': 'yes' })
        res.end()
      } else if (req.url === '/throw') throw new Error('boom')
      else res.end()
    }),
  )
  t.equal((await rawGet(url)).body.length, 0)
  t.equal((await rawGet(url, '/', 'HEAD')).status, 200)
  t.equal((await rawGet(url, '/204')).status, 204)
  t.equal((await rawGet(url, '/304')).status, 304)
  t.equal((await rawGet(url, '/writehead')).headers['x-given'], 'yes')
  t.equal((await rawGet(url, '/throw')).status, 599)
  t.equal(shedding.stats().inFlight, 0)
})

t.test('loadShedding(): explain() shows its limits; it wraps the layers a refusal must not pay for', async (t) => {
  const shedding = loadShedding({ maxEventLoopDelayMs: 150, maxInFlight: 100, maxQueue: 10 })
  t.teardown(() => shedding.close())
  const explained = compose(errorBoundary(), shedding, timeout()).explain()
  t.match(explained, /loadShedding \(delay 150 ms, 100 in flight \+ 10 queued\)/)
  t.match(explained, /ok\s+loadShedding wraps timeout: a refused request must cost nothing/)
})

t.test('loadShedding(): config: rejects bad options', async (t) => {
  const bad = (options: LoadSheddingOptions, message: RegExp) =>
    t.throws(() => loadShedding(options), { name: 'ConfigError', message })
  bad({ maxEventLoopDelayMs: -1 }, /loadShedding\(\): option "maxEventLoopDelayMs" must be a number ≥ 0; received -1/)
  bad({ maxEventLoopUtilization: 1.5 }, /option "maxEventLoopUtilization" must be a number from 0 to 1/)
  bad({ maxHeapUsedBytes: 0.5 }, /option "maxHeapUsedBytes" must be an integer/)
  bad({ maxRssBytes: '1gb' as never }, /option "maxRssBytes" must be an integer/)
  bad({ maxInFlight: -5 }, /option "maxInFlight" must be an integer/)
  bad(
    { maxQueue: 100_000, maxInFlight: 10 },
    /option "maxQueue" must be an integer from 0 to 10000; received 100000 \(number\)\. A long queue/,
  )
  bad({ maxQueue: 5 }, /option "maxQueue" must be 0 when maxInFlight is 0; received 5 \(number\)\. Set maxInFlight too/)
  bad({ queueTimeoutMs: 0 }, /option "queueTimeoutMs" must be an integer/)
  bad({ sampleIntervalMs: 1 }, /option "sampleIntervalMs" must be an integer from 10 to 60000/)
  bad({ retryAfterSeconds: -1 }, /option "retryAfterSeconds" must be an integer/)
  bad({ exempt: ['health'] }, /option "exempt" must be path patterns/)
  bad({ caseSensitive: 'no' as never }, /option "caseSensitive" must be true or false/)
  bad(
    { ambiguousPaths: 'shed' as never },
    /option "ambiguousPaths" must be one of "fail-closed", "refuse"; received "shed"/,
  )
  bad({ onShed: 1 as never }, /option "onShed" must be a function/)
  bad(
    { maxDelay: 5 } as never,
    /^loadShedding\(\): unknown option "maxDelay"; known options are maxEventLoopDelayMs, .*, ambiguousPaths, onShed\.$/,
  )
})

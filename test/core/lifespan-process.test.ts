import t, { type Test } from 'tap'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rawGet } from '../helpers/raw.js'
import { until } from '../helpers/wait.js'

// Real processes, real signals: test/helpers/lifespan-server.ts serves under lifespan() with
// SIGTERM graceful, and these tests load it, signal it and read its access log.

const script = fileURLToPath(new URL('../helpers/lifespan-server.ts', import.meta.url))

interface Child {
  readonly url: string
  readonly log: string
  readonly events: () => Array<Record<string, unknown>>
  readonly exited: Promise<{ code: number | null; at: number }>
  readonly process: ChildProcess
}

async function startChild(t: Test, env: Record<string, string>): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'onion-lifespan-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const log = join(dir, 'access.log')
  const child = spawn(process.execPath, [...process.execArgv, script], {
    env: { ...process.env, LOG: log, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<{ code: number | null; at: number }>((ok) =>
    child.once('exit', (code) => ok({ code, at: performance.now() })),
  )
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const port = await new Promise<number>((ok, fail) => {
    child.on('message', (m: { type: string; port: number }) => {
      if (m.type === 'listening') ok(m.port)
    })
    child.once('exit', (code) => fail(new Error(`the server exited with ${code} before listening:\n${stderr}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    events: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    exited,
    process: child,
  }
}

/** How one request of the load loop ended, from the client's side. */
interface Outcome {
  /** 'complete': a whole response; 'unaccepted': failed before any byte of a response; 'cut': failed after. */
  readonly kind: 'complete' | 'unaccepted' | 'cut'
  readonly status?: number
  readonly requestId?: string
  readonly error?: string
}

/** One request on `agent`; never rejects. */
function oneRequest(url: string, agent: Agent): Promise<Outcome> {
  return new Promise((ok) => {
    let responded = false
    const req = request(`${url}/work?ms=5`, { agent }, (res) => {
      responded = true
      let bytes = 0
      res.on('data', (d: Buffer) => {
        bytes += d.length
      })
      res.on('end', () => {
        const whole = res.complete && bytes === Number(res.headers['content-length'])
        ok({
          kind: whole ? 'complete' : 'cut',
          status: res.statusCode,
          requestId: String(res.headers['x-request-id']),
        })
      })
      res.on('error', (err) => ok({ kind: 'cut', error: err.message }))
      res.on('aborted', () => ok({ kind: 'cut', error: 'aborted' }))
    })
    req.on('error', (err: NodeJS.ErrnoException) =>
      ok({ kind: responded ? 'cut' : 'unaccepted', error: err.code ?? err.message }),
    )
    req.end()
  })
}

t.test(
  'lifespan process: SIGTERM under keep-alive load loses and cuts no request, logs them all, exits 0',
  async (t) => {
    const child = await startChild(t, { DRAIN_MS: '8000', GRACE_MS: '4000' })
    const outcomes: Outcome[] = []
    let stop = false
    // Several keep-alive agents sending continuously, until the server is gone.
    const loop = async (agent: Agent): Promise<void> => {
      while (!stop) {
        const outcome = await oneRequest(child.url, agent)
        outcomes.push(outcome)
        if (outcome.kind !== 'complete' && outcome.error === 'ECONNREFUSED') return
      }
    }
    const agents = Array.from({ length: 4 }, () => new Agent({ keepAlive: true, maxSockets: 2 }))
    t.teardown(() => {
      for (const agent of agents) agent.destroy()
    })
    const loops = agents.flatMap((agent) => [loop(agent), loop(agent)])
    await until(() => outcomes.length >= 200)
    const completeBefore = outcomes.filter((o) => o.kind === 'complete').length
    t.ok(completeBefore >= 200, `${completeBefore} requests served before the signal`)
    const signalled = performance.now()
    child.process.kill('SIGTERM')
    const { code, at } = await child.exited
    stop = true
    await Promise.all(loops)

    t.equal(code, 0, 'the drain was clean')
    t.ok(at - signalled < 8000, `exited ${Math.round(at - signalled)} ms after SIGTERM, within the drain deadline`)
    const cut = outcomes.filter((o) => o.kind === 'cut')
    t.same(cut, [], 'no response was cut')
    const complete = outcomes.filter((o) => o.kind === 'complete')
    const unaccepted = outcomes.filter((o) => o.kind === 'unaccepted')
    t.ok(complete.length > completeBefore, `${complete.length} complete, ${unaccepted.length} never accepted`)
    t.ok(unaccepted.length >= 1, 'the loops ran into the closed listener')
    t.same(
      // Refused by the closed listener, or a kept-alive socket closed (reset, or a broken pipe on
      // writing) as the request was being sent: in each case no byte of an answer was written.
      [...new Set(unaccepted.map((o) => o.error))].filter((e) => !['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(e!)),
      [],
      'refused or reset before any byte',
    )

    const lines = readFileSync(child.log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { requestId: string; status: number; path: string })
    t.equal(lines.length, complete.length, 'one log line per completed request: none accepted and lost')
    const logged = new Set(lines.map((line) => line.requestId))
    t.same(
      complete.filter((o) => !logged.has(o.requestId!)),
      [],
      "every completed request's line is in the file, the last ones included",
    )
    t.same(
      child.events().map((e) => e.event),
      ['sigterm', 'shutdown hook'],
    )
  },
)

t.test('lifespan process: readiness flips to 503 before the listener closes', async (t) => {
  const child = await startChild(t, { CLOSE_DELAY_MS: '3000', DRAIN_MS: '5000' })
  t.equal((await rawGet(child.url, '/readyz')).status, 200)
  child.process.kill('SIGTERM')
  await until(() => child.events().some((e) => e.event === 'sigterm'))
  const flipped = await rawGet(child.url, '/readyz')
  t.equal(flipped.status, 503, 'a new connection, still accepted, is told not ready')
  t.match(JSON.parse(flipped.body.toString()), { code: 'not_ready' })
  const { code } = await child.exited
  t.equal(code, 0)
  await t.rejects(rawGet(child.url, '/readyz'), { code: 'ECONNREFUSED' }, 'the listener closed after')
})

t.test(
  'lifespan process: a slow request is aborted through its signal at the deadline; the exit code says so',
  async (t) => {
    const child = await startChild(t, { DRAIN_MS: '600', GRACE_MS: '300' })
    const answer = rawGet(child.url, '/slow')
    await until(() => child.events().some((e) => e.event === 'slow started'))
    const signalled = performance.now()
    child.process.kill('SIGTERM')
    const response = await answer
    t.equal(response.status, 503)
    t.match(JSON.parse(response.body.toString()), { code: 'shutting_down' })
    t.equal(response.headers['retry-after'], '5')
    const { code, at } = await child.exited
    t.equal(code, 1, 'not a clean drain')
    t.ok(at - signalled >= 600, 'not before the deadline')
    t.same(
      child.events().map((e) => e.event),
      ['slow started', 'sigterm', 'slow aborted', 'shutdown hook'],
    )
    t.match(
      child.events().find((e) => e.event === 'slow aborted'),
      { kind: 'shutdown' },
    )
    const line = JSON.parse(readFileSync(child.log, 'utf8').trim()) as { path: string; status: number }
    t.match(line, { path: '/slow', status: 503 })
  },
)

/**
 * `npm run bench`: compare scenarios side by side with autocannon. Each scenario runs in its
 * own server process pinned to core 0 (when `taskset` exists); this process is the load
 * generator, pinned to core 1. Rounds interleave the scenarios (A B C, B C A, …) so drift on
 * a shared machine hits all of them alike; tables report medians with min–max and ratios to
 * the baseline measured in the same run. Before timing, one request to each scenario checks
 * that the features a comparison claims are really on.
 *
 *   npm run bench                  # the headline comparisons (~12 min): stacks, each middleware alone, core, adapters
 *   npm run bench -- --quick       # the stacks only, short rounds (< 2 min)
 *   npm run bench -- --all         # every comparison every scenario file defines
 *   npm run bench -- --only=flow   # comparisons whose name contains "flow" (a comma-separated list: any of them)
 *
 * A default or --all run writes benchmarks/results/<time>.json and latest.json, and renders
 * docs/benchmarks.md and docs/benchmarks.svg from them (render.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import { loadScenarioModules, type Comparison } from './common.js'
import {
  type LayerTableResult,
  type LayerTableSpec,
  limitRatios,
  median,
  renderBenchmarkDocs,
  renderLayerDocs,
  renderLayerTable,
  type ComparisonResult,
  type RunResults,
  type ScenarioResult,
} from './render.js'

interface Settings {
  duration: number
  rounds: number
  connections: number
  only: string | undefined
  all: boolean
  quick: boolean
  layers: boolean
  /** Requests per measurement of the --layers table. */
  requests: number
  /** Rounds of the --layers table served by one set of server processes before a fresh set. */
  restartEvery: number
}

function parseArgs(argv: readonly string[]): Settings {
  const quick = argv.includes('--quick')
  const layers = argv.includes('--layers')
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
  return {
    duration: Number(value('duration') ?? (quick ? 1.5 : 3)),
    rounds: Number(value('rounds') ?? (quick ? 1 : layers ? 10 : 3)),
    layers,
    requests: Number(value('requests') ?? 10_000),
    restartEvery: Number(value('restart-every') ?? 5),
    connections: Number(value('connections') ?? 50),
    only: value('only'),
    all: argv.includes('--all'),
    quick,
  }
}

/** Comparisons run by default: the headline ones. The others are details (--all, --only). */
const HEADLINE = /^(stacks|middleware|core|adapters):/

interface Sample {
  rps: number
  bytesPerSecond: number
  p50: number
  p99: number
  cpuMicrosPerRequest: number
  errors: number
}

interface ServerHandle {
  child: ChildProcess
  port: number
  /** Collections the server reported under --trace-gc so far (only when started with it). */
  gc: { scavenges: number; markCompacts: number }
  rssAtReadyMiB: number
  ask(type: string): Promise<Record<string, number>>
}

const here = dirname(fileURLToPath(import.meta.url))
const hasTaskset = cpus().length > 1 && spawnSync('taskset', ['-V']).status === 0

async function startServer(file: string, scenario: string, pinned = true, traceGc = false): Promise<ServerHandle> {
  const args = [process.execPath, ...(traceGc ? ['--trace-gc'] : []), join(here, 'server.js'), file, scenario]
  const stdio = ['ignore', traceGc ? 'pipe' : 'inherit', 'inherit', 'ipc'] as const
  const child =
    hasTaskset && pinned
      ? spawn('taskset', ['-c', '0', ...args], { stdio: [...stdio] })
      : spawn(args[0]!, args.slice(1), { stdio: [...stdio] })
  const gc = { scavenges: 0, markCompacts: 0 }
  if (traceGc) {
    // One line per collection: "[pid:0x…] 1234 ms: Scavenge 4.1 (5.2) -> …" or "…: Mark-Compact …".
    let rest = ''
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (rest + text).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        if (/ms: Scavenge/.test(line)) gc.scavenges++
        else if (/ms: Mark-Compact/.test(line)) gc.markCompacts++
      }
    })
  }
  const ready = await new Promise<{ port: number; rssKiB: number }>((ok, fail) => {
    child.once('message', (m: { type: string; port: number; rssKiB: number }) =>
      m.type === 'ready' ? ok(m) : fail(new Error(`unexpected ${m.type}`)),
    )
    child.once('exit', (code) => fail(new Error(`scenario ${scenario} exited with ${code}`)))
  })
  const ask = (type: string) =>
    new Promise<Record<string, number>>((ok) => {
      const onMessage = (m: Record<string, number> & { type: string }) => {
        if (m.type === 'stats' || m.type === 'marked') {
          child.off('message', onMessage)
          ok(m)
        }
      }
      child.on('message', onMessage)
      child.send({ type })
    })
  return { child, port: ready.port, gc, rssAtReadyMiB: ready.rssKiB / 1024, ask }
}

async function measure(
  server: ServerHandle,
  comparison: Comparison,
  settings: Settings,
  duration: number,
  amount?: number,
): Promise<Sample> {
  await server.ask('mark')
  const result: Result = await autocannon({
    url: `http://127.0.0.1:${server.port}${comparison.route}`,
    connections: comparison.connections ?? settings.connections,
    // A run of `amount` requests ends on autocannon's next sample tick (1 s by default): 4
    // requests of ~1.8 s would last 7 or 8 s, a 14% step. Ticks of 10 ms make it exact.
    ...(amount ? { amount, sampleInt: 10 } : { duration }),
    method: comparison.method ?? 'GET',
    headers: { ...comparison.headers },
    ...(comparison.body ? { body: comparison.body } : {}),
    timeout: 120,
  })
  const stats = await server.ask('stats')
  const requests = result.requests.total || 1
  // Totals over the measured time, not the mean of one-second buckets: exact for short runs.
  const seconds = result.duration || duration
  return {
    rps: result.requests.total / seconds,
    bytesPerSecond: result.throughput.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: stats.cpuMicros! / requests,
    // A comparison that expects a 304 (conditional requests) gets no 2xx by design.
    errors: result.errors + result.timeouts + (expectsNon2xx(comparison) ? 0 : result.non2xx),
  }
}

/** Whether the comparison's expected status lies outside 2xx, so non-2xx answers are no errors. */
const expectsNon2xx = (comparison: Comparison): boolean =>
  comparison.expect?.status !== undefined && (comparison.expect.status < 200 || comparison.expect.status > 299)

/** One request: status, headers, and the time to the first body byte. */
function probe(
  server: ServerHandle,
  comparison: Comparison,
): Promise<{ status: number; headers: Record<string, unknown>; ttfbMs: number }> {
  return new Promise((ok, fail) => {
    const started = performance.now()
    let ttfbMs = Number.NaN
    request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: comparison.route,
        method: comparison.method ?? 'GET',
        headers: { ...comparison.headers },
      },
      (res) => {
        res.once('data', () => {
          ttfbMs = performance.now() - started
        })
        res.resume()
        res.on('end', () =>
          ok({
            status: res.statusCode!,
            headers: res.headers,
            ttfbMs: Number.isNaN(ttfbMs) ? performance.now() - started : ttfbMs,
          }),
        )
      },
    )
      .on('error', fail)
      .end(comparison.body)
  })
}

/** The features the comparison claims must be on, in one request to each scenario. */
async function check(name: string, server: ServerHandle, comparison: Comparison): Promise<void> {
  const expect = comparison.expect
  if (!expect || comparison.unchecked?.includes(name)) return
  const { status, headers } = await probe(server, comparison)
  const problems = [
    ...(expect.status !== undefined && status !== expect.status ? [`status ${status}, expected ${expect.status}`] : []),
    ...(expect.headers ?? []).filter((h) => headers[h] === undefined).map((h) => `no ${h}`),
    ...(expect.absentHeaders ?? []).filter((h) => headers[h] !== undefined).map((h) => `unexpected ${h}`),
  ]
  if (problems.length > 0) throw new Error(`${comparison.name}: ${name} is not comparable: ${problems.join(', ')}`)
}

async function runComparison(
  comparison: Comparison,
  files: ReadonlyMap<string, string>,
  settings: Settings,
): Promise<ComparisonResult> {
  const servers = new Map<string, ServerHandle>()
  const fileOf = (name: string): string => {
    const file = files.get(name)
    if (!file) throw new Error(`${comparison.name}: no scenario file defines "${name}"`)
    return file
  }
  const fresh = comparison.freshProcesses === true && !comparison.stream
  try {
    const amount = comparison.amount && settings.quick ? Math.max(1, comparison.amount >> 1) : comparison.amount
    // Warm-up: JIT, sockets.
    const warmUp = (server: ServerHandle) =>
      measure(server, comparison, settings, settings.quick ? 0.5 : 1, amount ? 1 : undefined)
    if (!fresh) {
      for (const name of comparison.scenarios)
        servers.set(name, await startServer(fileOf(name), name, !comparison.unpinned))
      for (const [name, server] of servers) await check(name, server, comparison)
      for (const [, server] of servers) await warmUp(server)
    }
    const samples = new Map<string, Sample[]>(comparison.scenarios.map((n) => [n, []]))
    // Fresh processes: each one's peak RSS, reported as the median over the rounds.
    const peaks = new Map<string, number[]>(comparison.scenarios.map((n) => [n, []]))
    for (let round = 0; round < settings.rounds; round++) {
      const order = comparison.scenarios.map((_, i) => comparison.scenarios[(i + round) % comparison.scenarios.length]!)
      for (const name of order) {
        if (!fresh) {
          samples.get(name)!.push(await measure(servers.get(name)!, comparison, settings, settings.duration, amount))
          continue
        }
        const server = await startServer(fileOf(name), name, !comparison.unpinned)
        servers.set(name, server)
        if (round === 0) await check(name, server, comparison)
        await warmUp(server)
        samples.get(name)!.push(await measure(server, comparison, settings, settings.duration, amount))
        peaks.get(name)!.push((await server.ask('stats')).maxRssKiB! / 1024)
        await stopServer(server)
        servers.delete(name)
      }
    }
    const ttfb = new Map<string, number>()
    if (comparison.stream) {
      for (const [name, server] of servers) {
        const times: number[] = []
        for (let i = 0; i < 3; i++) times.push((await probe(server, comparison)).ttfbMs)
        ttfb.set(name, median(times))
      }
    }
    const rows: ScenarioResult[] = []
    for (const name of comparison.scenarios) {
      const list = samples.get(name)!
      const server = servers.get(name)
      const peakRssMiB = server === undefined ? median(peaks.get(name)!) : (await server.ask('stats')).maxRssKiB! / 1024
      const rps = list.map((s) => s.rps)
      rows.push({
        scenario: name,
        rps: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
        mibPerSecond: median(list.map((s) => s.bytesPerSecond)) / 2 ** 20,
        ratioToBaseline: 0,
        latencyMs: { p50: median(list.map((s) => s.p50)), p99: median(list.map((s) => s.p99)) },
        cpuMicrosPerRequest: median(list.map((s) => s.cpuMicrosPerRequest)),
        cpuMicrosByRound: list.map((s) => s.cpuMicrosPerRequest),
        peakRssMiB,
        rssGrowthMiB: server === undefined ? 0 : peakRssMiB - server.rssAtReadyMiB,
        ttfbMs: ttfb.get(name),
        errors: list.reduce((n, s) => n + s.errors, 0),
      })
    }
    const base = rows.find((r) => r.scenario === comparison.baseline)!.rps.median
    for (const row of rows) row.ratioToBaseline = row.rps.median / base
    return {
      name: comparison.name,
      route: comparison.route,
      method: comparison.method ?? 'GET',
      baseline: comparison.baseline,
      ...(comparison.limit ? { limit: comparison.limit } : {}),
      ...(comparison.note ? { note: comparison.note } : {}),
      pinned: hasTaskset && !comparison.unpinned,
      rows,
    }
  } finally {
    for (const [, server] of servers) await stopServer(server)
  }
}

async function stopServer(server: ServerHandle): Promise<void> {
  if (server.child.exitCode !== null) return
  server.child.send({ type: 'stop' })
  await new Promise((ok) => server.child.once('exit', ok))
}

function printTable(result: ComparisonResult): void {
  console.log(`\n${result.name} (${result.method} ${result.route}, baseline ${result.baseline})`)
  console.table(
    result.rows.map((r) => ({
      scenario: r.scenario,
      'req/s median': Math.round(r.rps.median),
      'min–max': `${Math.round(r.rps.min)}–${Math.round(r.rps.max)}`,
      ratio: r.ratioToBaseline.toFixed(3),
      'MiB/s': r.mibPerSecond.toFixed(1),
      'p50 ms': r.latencyMs.p50,
      'p99 ms': r.latencyMs.p99,
      'cpu µs/req': r.cpuMicrosPerRequest.toFixed(1),
      'peak RSS MiB': r.peakRssMiB.toFixed(1),
      ...(r.ttfbMs === undefined
        ? {}
        : { 'TTFB ms': r.ttfbMs.toFixed(1), 'RSS growth MiB': r.rssGrowthMiB.toFixed(1) }),
      errors: r.errors,
    })),
  )
  const limit = limitRatios(result)
  if (limit) console.log(limit)
  if (result.note) console.log(`note: ${result.note}`)
}

const settings = parseArgs(process.argv.slice(2))
// The peer stacks' packages live in benchmarks/node_modules, installed on first use.
const peersDir = join(here, '..', '..', 'benchmarks')
if (!existsSync(join(peersDir, 'node_modules'))) {
  console.log('installing the peer stacks (benchmarks/package.json)…')
  const installed = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: peersDir,
    stdio: 'inherit',
  })
  if (installed.status !== 0) throw new Error('npm ci in benchmarks/ failed')
}
if (hasTaskset) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })

const modules = await loadScenarioModules()
const files = new Map<string, string>()
for (const module of modules) for (const name of Object.keys(module.scenarios)) files.set(name, module.file)
const descriptions = Object.fromEntries(
  modules.flatMap((m) => Object.entries(m.scenarios).map(([name, s]) => [name, s.description])),
)
const selected = modules
  .flatMap((m) => m.comparisons ?? [])
  // An unpinned run needs a core besides the load generator's to mean anything.
  .filter((c) => !c.unpinned || cpus().length > 1)
  .filter((c) =>
    settings.only
      ? settings.only.split(',').some((part) => c.name.includes(part))
      : settings.all
        ? true
        : settings.quick
          ? c.name.startsWith('stacks:')
          : HEADLINE.test(c.name),
  )

if (settings.layers) {
  await runLayerTable()
  process.exit(0)
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  pinned: hasTaskset,
  duration: settings.duration,
  rounds: settings.rounds,
  connections: settings.connections,
  mode: settings.only ? `only ${settings.only}` : settings.all ? 'all' : settings.quick ? 'quick' : 'default',
}
console.log(`machine: ${JSON.stringify(machine)}`)
const started = Date.now()
const results: ComparisonResult[] = []
for (const comparison of selected) {
  const result = await runComparison(comparison, files, settings)
  results.push(result)
  printTable(result)
}
const run: RunResults = {
  date: new Date().toISOString(),
  machine,
  seconds: Math.round((Date.now() - started) / 1000),
  descriptions,
  results,
}
const out = join(peersDir, 'results')
mkdirSync(out, { recursive: true })
const file = join(out, `${run.date.replace(/[:.]/g, '-')}.json`)
writeFileSync(file, JSON.stringify(run, null, 2) + '\n')
console.log(`\n${results.length} comparisons in ${run.seconds} s; results written to ${file}`)
if (!settings.only && !settings.quick) {
  writeFileSync(join(out, 'latest.json'), JSON.stringify(run, null, 2) + '\n')
  renderBenchmarkDocs(run, join(peersDir, '..', 'docs'))
  console.log('docs/benchmarks.md and docs/benchmarks.svg rendered')
}

/**
 * `--layers`: the per-layer cost table of the production stack (benchmarks/scenarios/layers.ts).
 * Every server runs under --trace-gc, pinned; rounds interleave all of them. A row's CPU time
 * is the minimum over the rounds (the least disturbed one on a shared machine); its GC figures
 * are totals over every round, per 10,000 requests. Rendered into docs/performance.md.
 */
async function runLayerTable(): Promise<void> {
  const module = modules.find((m) => 'layerTable' in m) as unknown as { layerTable: LayerTableSpec; file: string }
  const spec = module.layerTable
  const names = [
    spec.bare,
    spec.stack,
    ...(spec.limit ? [spec.limit] : []),
    ...spec.layers.flatMap((l) => [l.alone, l.without]),
  ]
  const comparison: Comparison = {
    name: 'layers',
    route: spec.route,
    baseline: spec.bare,
    scenarios: names,
    headers: { origin: 'https://app.example', 'accept-encoding': 'gzip' },
  }
  console.log(
    `layers: ${names.length} servers, ${settings.rounds} rounds of ${settings.requests} requests, ${settings.connections} connections`,
  )
  const started = Date.now()
  const servers = new Map<string, ServerHandle>()
  const rows = new Map<string, LayerRow>()
  // A process can settle in a slower state for its whole life (see freshProcesses in
  // common.ts): one set of processes for every round let one such process set a row. A fresh
  // set every few rounds gives each row several processes, and its minimum a healthy one.
  const startAll = async () => {
    for (const [, server] of servers) await stopServer(server)
    servers.clear()
    for (const name of names) servers.set(name, await startServer(module.file, name, true, true))
    for (const [, server] of servers) await measure(server, comparison, settings, 0, settings.requests >> 2)
  }
  try {
    for (const name of names) rows.set(name, { cpu: [], requests: 0, scavenges: 0, markCompacts: 0 })
    for (let round = 0; round < settings.rounds; round++) {
      if (round % Math.max(1, settings.restartEvery) === 0) await startAll()
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round * 5) % names.length]!
        const server = servers.get(name)!
        const before = { ...server.gc }
        const sample = await measure(server, comparison, settings, 0, settings.requests)
        // The trace lines travel on stdout, the stats on IPC: let the last lines arrive.
        await new Promise((ok) => setTimeout(ok, 30))
        const row = rows.get(name)!
        row.cpu.push(sample.cpuMicrosPerRequest)
        row.requests += settings.requests
        row.scavenges += server.gc.scavenges - before.scavenges
        row.markCompacts += server.gc.markCompacts - before.markCompacts
        if (sample.errors > 0) throw new Error(`layers: ${name} answered with ${sample.errors} errors`)
      }
    }
  } finally {
    for (const [, server] of servers) await stopServer(server)
  }
  const result: LayerTableResult = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, pinned: hasTaskset },
    seconds: Math.round((Date.now() - started) / 1000),
    rounds: settings.rounds,
    restartEvery: Math.max(1, settings.restartEvery),
    requests: settings.requests,
    connections: settings.connections,
    route: spec.route,
    rows: names.map((name) => {
      const row = rows.get(name)!
      return {
        scenario: name,
        minCpuMicros: Math.min(...row.cpu),
        medianCpuMicros: median(row.cpu),
        cpuMicrosByRound: row.cpu,
        scavengesPer10k: (row.scavenges * 10_000) / row.requests,
        markCompactsPer10k: (row.markCompacts * 10_000) / row.requests,
      }
    }),
    layers: spec.layers,
    bare: spec.bare,
    stack: spec.stack,
    ...(spec.limit ? { limit: spec.limit } : {}),
  }
  console.log(renderLayerTable(result))
  const out = join(peersDir, 'results')
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, 'layers-latest.json'), JSON.stringify(result, null, 2) + '\n')
  renderLayerDocs(result, join(peersDir, '..', 'docs', 'performance.md'))
  console.log(`\nlayers: ${result.seconds} s; benchmarks/results/layers-latest.json and docs/performance.md written`)
}

interface LayerRow {
  cpu: number[]
  requests: number
  scavenges: number
  markCompacts: number
}

/**
 * `npm run bench`: compare scenarios side by side with autocannon. Each scenario runs
 * in its own server process pinned to core 0 (when `taskset` exists); this process is the
 * load generator, pinned to core 1. Rounds interleave the scenarios (A B C, B C A, …) so
 * drift on a shared machine hits all of them alike; the table reports medians with
 * min–max and ratios to the baseline measured in the same run.
 *
 *   npm run bench                     # every comparison, ~5 s per measurement, 5 rounds
 *   npm run bench -- --quick          # 2 s, 3 rounds
 *   npm run bench -- --only=core      # comparisons whose name contains "core"
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'
import { loadScenarioModules, type Comparison } from './common.js'


interface Settings { duration: number; rounds: number; connections: number; only: string | undefined }

function parseArgs(argv: readonly string[]): Settings {
  const quick = argv.includes('--quick')
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
  return {
    duration: Number(value('duration') ?? (quick ? 2 : 5)),
    rounds: Number(value('rounds') ?? (quick ? 3 : 5)),
    connections: Number(value('connections') ?? 50),
    only: value('only'),
  }
}

interface Sample { rps: number; p50: number; p99: number; cpuMicrosPerRequest: number; errors: number }

interface ServerHandle { child: ChildProcess; port: number; ask(type: string): Promise<Record<string, number>> }

const here = dirname(fileURLToPath(import.meta.url))
const hasTaskset = cpus().length > 1 && spawnSync('taskset', ['-V']).status === 0

async function startServer(scenario: string): Promise<ServerHandle> {
  const args = [process.execPath, join(here, 'server.js'), scenario]
  const child = hasTaskset
    ? spawn('taskset', ['-c', '0', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((ok, fail) => {
    child.once('message', (m: { type: string; port: number }) => (m.type === 'ready' ? ok(m.port) : fail(new Error(`unexpected ${m.type}`))))
    child.once('exit', (code) => fail(new Error(`scenario ${scenario} exited with ${code}`)))
  })
  const ask = (type: string) => new Promise<Record<string, number>>((ok) => {
    const onMessage = (m: Record<string, number> & { type: string }) => {
      if (m.type === 'stats' || m.type === 'marked') { child.off('message', onMessage); ok(m) }
    }
    child.on('message', onMessage)
    child.send({ type })
  })
  return { child, port, ask }
}

async function measure(server: ServerHandle, comparison: Comparison, settings: Settings, duration: number): Promise<Sample> {
  await server.ask('mark')
  const result: Result = await autocannon({
    url: `http://127.0.0.1:${server.port}${comparison.route}`,
    connections: comparison.connections ?? settings.connections,
    ...(comparison.amount ? { amount: comparison.amount } : { duration }),
    method: comparison.method ?? 'GET',
    headers: { ...comparison.headers },
    timeout: 60,
  })
  const stats = await server.ask('stats')
  const requests = result.requests.total || 1
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: stats.cpuMicros! / requests,
    errors: result.errors + result.timeouts + result.non2xx,
  }
}

/** One request to a scenario before timing: the features the comparison claims must be on. */
async function check(name: string, server: ServerHandle, comparison: Comparison): Promise<void> {
  const expect = comparison.expect
  if (!expect) return
  const { status, headers } = await new Promise<{ status: number; headers: Record<string, unknown> }>((ok, fail) => {
    request({ host: '127.0.0.1', port: server.port, path: comparison.route, method: comparison.method ?? 'GET', headers: { ...comparison.headers } }, (res) => {
      res.resume()
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers }))
    }).on('error', fail).end()
  })
  const problems = [
    ...(expect.status !== undefined && status !== expect.status ? [`status ${status}, expected ${expect.status}`] : []),
    ...(expect.headers ?? []).filter((h) => headers[h] === undefined).map((h) => `no ${h}`),
    ...(expect.absentHeaders ?? []).filter((h) => headers[h] !== undefined).map((h) => `unexpected ${h}`),
  ]
  if (problems.length > 0) throw new Error(`${comparison.name}: ${name} is not comparable: ${problems.join(', ')}`)
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function runComparison(comparison: Comparison, settings: Settings) {
  const servers = new Map<string, ServerHandle>()
  for (const name of comparison.scenarios) servers.set(name, await startServer(name))
  try {
    for (const [name, server] of servers) await check(name, server, comparison)
    for (const [, server] of servers) await measure(server, comparison, settings, 1) // warm-up: JIT, sockets
    const samples = new Map<string, Sample[]>(comparison.scenarios.map((n) => [n, []]))
    for (let round = 0; round < settings.rounds; round++) {
      const order = comparison.scenarios.map((_, i) => comparison.scenarios[(i + round) % comparison.scenarios.length]!)
      for (const name of order) samples.get(name)!.push(await measure(servers.get(name)!, comparison, settings, settings.duration))
      process.stderr.write(`  round ${round + 1}/${settings.rounds} done\n`)
    }
    const peaks = new Map<string, number>()
    for (const [name, server] of servers) peaks.set(name, (await server.ask('stats')).maxRssKiB! / 1024)
    const base = median(samples.get(comparison.baseline)!.map((s) => s.rps))
    return comparison.scenarios.map((name) => {
      const list = samples.get(name)!
      const rps = list.map((s) => s.rps)
      return {
        scenario: name,
        rps: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
        ratioToBaseline: median(rps) / base,
        latencyMs: { p50: median(list.map((s) => s.p50)), p99: median(list.map((s) => s.p99)) },
        cpuMicrosPerRequest: median(list.map((s) => s.cpuMicrosPerRequest)),
        peakRssMiB: peaks.get(name)!,
        errors: list.reduce((n, s) => n + s.errors, 0),
      }
    })
  } finally {
    for (const [, server] of servers) {
      server.child.send({ type: 'stop' })
      await new Promise((ok) => server.child.once('exit', ok))
    }
  }
}

const settings = parseArgs(process.argv.slice(2))
// The peer stacks' packages live in benchmarks/node_modules, installed on first use.
const peersDir = join(here, '..', '..', 'benchmarks')
if (!existsSync(join(peersDir, 'node_modules'))) {
  console.log('installing the peer stacks (benchmarks/package.json)…')
  const installed = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: peersDir, stdio: 'inherit' })
  if (installed.status !== 0) throw new Error('npm ci in benchmarks/ failed')
}
if (hasTaskset) spawnSync('taskset', ['-cp', '1', String(process.pid)])
const machine = {
  cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version, pinned: hasTaskset, ...settings,
}
console.log(`machine: ${JSON.stringify(machine)}`)
const results: Record<string, unknown> = {}
const comparisons = (await loadScenarioModules()).flatMap((m) => m.comparisons ?? [])
for (const comparison of comparisons) {
  if (settings.only && !comparison.name.includes(settings.only)) continue
  console.log(`\n${comparison.name} (route ${comparison.route}, baseline ${comparison.baseline})`)
  const rows = await runComparison(comparison, settings)
  results[comparison.name] = rows
  console.table(rows.map((r) => ({
    scenario: r.scenario,
    'req/s median': Math.round(r.rps.median),
    'min–max': `${Math.round(r.rps.min)}–${Math.round(r.rps.max)}`,
    ratio: r.ratioToBaseline.toFixed(3),
    'p50 ms': r.latencyMs.p50,
    'p99 ms': r.latencyMs.p99,
    'cpu µs/req': r.cpuMicrosPerRequest.toFixed(1),
    'peak RSS MiB': r.peakRssMiB.toFixed(1),
    errors: r.errors,
  })))
}
const out = join(here, '..', '..', 'benchmarks', 'results')
mkdirSync(out, { recursive: true })
const file = join(out, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
writeFileSync(file, JSON.stringify({ machine, results }, null, 2) + '\n')
console.log(`\nresults written to ${file}`)

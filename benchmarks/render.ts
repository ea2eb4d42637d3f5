/**
 * Renders a benchmark run into docs/benchmarks.md (tables, goals) and docs/benchmarks.svg
 * (a bar chart of the stack comparisons). Generated, never edited by hand: rerun
 * `npm run bench` to refresh both.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface ScenarioResult {
  scenario: string
  rps: { median: number; min: number; max: number }
  mibPerSecond: number
  ratioToBaseline: number
  latencyMs: { p50: number; p99: number }
  cpuMicrosPerRequest: number
  /**
   * CPU µs/req of each round, in round order, so that two scenarios can be compared round by
   * round ({@link pairedCpuRatio}). Absent from results written before it was recorded.
   */
  cpuMicrosByRound?: number[]
  peakRssMiB: number
  rssGrowthMiB: number
  ttfbMs: number | undefined
  errors: number
}

export interface ComparisonResult {
  name: string
  route: string
  method: string
  baseline: string
  /** The hand-written limit of this route, when the comparison has one. */
  limit?: string
  note?: string
  /** False when the servers ran unpinned (free to use every core). */
  pinned?: boolean
  rows: ScenarioResult[]
}

/** A ratio of CPU per request taken round by round: its median and range over the rounds. */
export interface PairedRatio {
  median: number
  min: number
  max: number
  rounds: number
}

/** Anything that kept its CPU µs/req per round: a comparison's row, a layer-table row. */
type Rounds = { readonly cpuMicrosByRound?: readonly number[] }

/**
 * `combine(a's figure, b's figure)` for each round, or undefined when either side has no
 * per-round figures (results written before they were recorded) or the rounds do not pair up.
 */
function perRound(a: Rounds, b: Rounds, combine: (x: number, y: number) => number): number[] | undefined {
  const xs = a.cpuMicrosByRound
  const ys = b.cpuMicrosByRound
  if (!xs || !ys || xs.length === 0 || xs.length !== ys.length) return undefined
  return xs.map((x, i) => combine(x, ys[i]!))
}

/**
 * `a`'s CPU per request over `b`'s, taken within each round and then the median over the
 * rounds. Rounds interleave the scenarios, so both sides of one round ran close together (one
 * after the other when the comparison lists them side by side): a slow spell of a shared
 * machine lands on both and cancels out of their ratio, where the ratio of two medians taken
 * over all rounds keeps it. Undefined without per-round figures on both sides.
 */
export function pairedCpuRatio(a: Rounds, b: Rounds): PairedRatio | undefined {
  const ratios = perRound(a, b, (x, y) => x / y)
  if (ratios === undefined) return undefined
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: ratios.length }
}

/** The median over rounds of `a`'s CPU µs/req minus `b`'s in the same round (see {@link pairedCpuRatio}). */
function pairedDifference(a: Rounds, b: Rounds): number | undefined {
  const differences = perRound(a, b, (x, y) => x - y)
  return differences === undefined ? undefined : median(differences)
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/**
 * `onion` as a share of the hand-written limit measured in the same run: req/s ratio, and
 * the limit's CPU time per request over the stack's (1.00 when the stack does no extra work),
 * then the stack's CPU over the limit's round by round, the figure the goals are judged on.
 */
export function limitRatios(comparison: ComparisonResult): string | undefined {
  const onion = comparison.rows.find((r) => r.scenario === 'onion')
  const limit = comparison.rows.find((r) => r.scenario === comparison.limit)
  if (!onion || !limit) return undefined
  const paired = pairedCpuRatio(onion, limit)
  return (
    `http-onion against the hand-written limit: ${fixed(onion.rps.median / limit.rps.median)} of its req/s, ` +
    `${fixed(limit.cpuMicrosPerRequest / onion.cpuMicrosPerRequest)} of its efficiency ` +
    `(${fixed(onion.cpuMicrosPerRequest, 1)} vs ${fixed(limit.cpuMicrosPerRequest, 1)} CPU µs/req, ` +
    `${fixed(onion.cpuMicrosPerRequest / limit.cpuMicrosPerRequest)}×)` +
    (paired
      ? `; round by round its CPU per request is ${fixed(paired.median)}× the limit's ` +
        `(median of ${paired.rounds} rounds, ${fixed(paired.min)}–${fixed(paired.max)}×).`
      : '.')
  )
}

export interface RunResults {
  date: string
  machine: Record<string, unknown>
  seconds: number
  descriptions: Record<string, string>
  results: ComparisonResult[]
}

interface Goal {
  issue: string
  goal: string
  measured: string
  met: boolean | undefined
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

function row(run: RunResults, prefix: string, scenario: string): ScenarioResult | undefined {
  return run.results.find((c) => c.name.startsWith(prefix))?.rows.find((r) => r.scenario === scenario)
}

/** The goals the issues set, evaluated on this run. */
export function evaluateGoals(run: RunResults): Goal[] {
  const goals: Goal[] = []
  const ratio = (prefix: string, a: string, b: string, at: number, issue: string, goal: string) => {
    const x = row(run, prefix, a)
    const y = row(run, prefix, b)
    if (!x || !y) return
    const value = x.rps.median / y.rps.median
    goals.push({ issue, goal, measured: `${fixed(value)}×`, met: value >= at })
  }
  ratio('core:', 'noop-10', 'bare', 0.95, '#2', '10 no-op layers ≥ 0.95 of bare node:http')
  ratio(
    'stacks: 1 KB',
    'onion',
    'same-headers-limit',
    0.9,
    '#10',
    'production stack ≥ 0.90 of the same-headers limit (1 KB route)',
  )
  // #20 sets its limit goals on CPU per request, as a ratio taken in one run: judged round
  // by round where the run recorded rounds, else on the medians.
  const cpuRatio = (prefix: string, at: number, goal: string) => {
    const x = row(run, prefix, 'onion')
    const y = row(run, prefix, 'hand-written')
    if (!x || !y) return
    const paired = pairedCpuRatio(x, y)
    const value = paired?.median ?? x.cpuMicrosPerRequest / y.cpuMicrosPerRequest
    const how = paired
      ? ` CPU/req, median of ${paired.rounds} paired rounds (${fixed(paired.min)}–${fixed(paired.max)}×)`
      : ' CPU/req (medians)'
    goals.push({ issue: '#20', goal, measured: `${fixed(value)}×${how}`, met: value <= at })
  }
  cpuRatio('stacks: 1 KB', 1.15, 'production stack ≤ 1.15× the CPU/req of the hand-written limit (1 KB route)')
  cpuRatio(
    'stacks: 64 KB JSON, gzip 6',
    1 / 0.97,
    'production stack ≤ 1.03× the CPU/req of the hand-written limit (64 KB route)',
  )
  ratio('stacks: 1 KB', 'onion', 'fastify', 2.5, '#10', 'production stack ≥ 2.5× the Fastify stack (1 KB route)')
  ratio('stacks: 1 KB', 'onion', 'express', 6, '#10', 'production stack ≥ 6× the Express stack (1 KB route)')
  ratio('stacks: 64 KB', 'onion', 'gzip-limit', 0.97, '#10', 'production stack ≥ 0.97 of the gzip limit (64 KB route)')
  ratio(
    'stacks: 100 MiB',
    'onion',
    'hand-gzip-stream',
    1.0,
    '#5 #10',
    '100 MiB stream through compression ≥ 1.00 of piping by hand through zlib',
  )
  ratio('middleware:', 'rate-limit-memory', 'bare', 0.95, '#6', 'memory-store rateLimit alone ≥ 0.95 of bare')
  const stream = row(run, 'stacks: 100 MiB', 'onion')
  if (stream?.ttfbMs !== undefined) {
    goals.push({
      issue: '#10',
      goal: '100 MiB stream: time to first byte < 20 ms',
      measured: `${fixed(stream.ttfbMs, 1)} ms`,
      met: stream.ttfbMs < 20,
    })
    goals.push({
      issue: '#5 #10',
      goal: '100 MiB stream: peak RSS growth < 32 MiB',
      measured: `${fixed(stream.rssGrowthMiB, 1)} MiB`,
      met: stream.rssGrowthMiB < 32,
    })
  }
  const onion = row(run, 'stacks: 1 KB', 'onion')
  const bare = row(run, 'stacks: 1 KB', 'bare')
  if (onion && bare) {
    const value = onion.peakRssMiB / bare.peakRssMiB
    goals.push({
      issue: '#10',
      goal: 'peak RSS of the production stack under load ≤ 1.2× bare',
      measured: `${fixed(value)}× (${fixed(onion.peakRssMiB, 1)} vs ${fixed(bare.peakRssMiB, 1)} MiB)`,
      met: value <= 1.2,
    })
  }
  return goals
}

function table(comparison: ComparisonResult): string {
  const stream = comparison.rows.some((r) => r.ttfbMs !== undefined)
  const head = [
    'scenario',
    'req/s (median, min–max)',
    `× ${comparison.baseline}`,
    'p50 / p99 ms',
    'CPU µs/req',
    'peak RSS MiB',
    ...(stream ? ['MiB/s', 'TTFB ms', 'RSS growth MiB'] : []),
    'errors',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of comparison.rows) {
    const cells = [
      `\`${r.scenario}\``,
      `${Math.round(r.rps.median)} (${Math.round(r.rps.min)}–${Math.round(r.rps.max)})`,
      fixed(r.ratioToBaseline),
      `${r.latencyMs.p50} / ${r.latencyMs.p99}`,
      fixed(r.cpuMicrosPerRequest, 1),
      fixed(r.peakRssMiB, 1),
      ...(stream
        ? [fixed(r.mibPerSecond, 1), r.ttfbMs === undefined ? '' : fixed(r.ttfbMs, 1), fixed(r.rssGrowthMiB, 1)]
        : []),
      String(r.errors),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const onion = comparison.rows.find((r) => r.scenario === 'onion')
  const peers = comparison.rows.filter((r) => ['express', 'fastify', 'hono'].includes(r.scenario))
  if (onion && peers.length > 0) {
    lines.push(
      '',
      `http-onion against each peer: ${peers.map((p) => `${fixed(onion.rps.median / p.rps.median)}× ${p.scenario}`).join(', ')}.`,
    )
  }
  const limit = limitRatios(comparison)
  if (limit) lines.push('', limit)
  if (comparison.note) lines.push('', `Note: ${comparison.note}`)
  return lines.join('\n')
}

/** A horizontal bar chart: each stack comparison, each scenario's req/s as a share of the comparison's fastest. */
export function renderChart(run: RunResults): string {
  const groups = run.results.filter((c) => c.name.startsWith('stacks:'))
  const barHeight = 16
  const gap = 4
  const labelWidth = 190
  const chartWidth = 520
  const width = labelWidth + chartWidth + 110
  let y = 40
  const parts: string[] = []
  const colour = (scenario: string) =>
    scenario.startsWith('onion')
      ? '#2f7d32'
      : ['express', 'fastify', 'hono', 'hono-nocompress'].includes(scenario)
        ? '#8a8f98'
        : '#5470c6'
  for (const group of groups) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(group.name.replace(/^stacks: /, ''))}</text>`)
    y += 8
    const top = Math.max(...group.rows.map((r) => r.rps.median))
    for (const r of group.rows) {
      y += barHeight + gap
      const w = Math.max(1, Math.round((r.rps.median / top) * chartWidth))
      const value = group.rows.some((x) => x.ttfbMs !== undefined)
        ? `${fixed(r.mibPerSecond, 0)} MiB/s`
        : `${Math.round(r.rps.median)} req/s`
      parts.push(
        `<text x="${labelWidth - 8}" y="${y - 4}" text-anchor="end">${escapeXml(r.scenario)}</text>`,
        `<rect x="${labelWidth}" y="${y - barHeight}" width="${w}" height="${barHeight}" fill="${colour(r.scenario)}"/>`,
        `<text x="${labelWidth + w + 6}" y="${y - 4}">${value}</text>`,
      )
    }
    y += 28
  }
  const height = y
  return (
    [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
      `<rect width="${width}" height="${height}" fill="white"/>`,
      `<text x="10" y="20" font-size="14" font-weight="bold">Throughput by stack (median of interleaved rounds; green: http-onion, grey: peers, blue: limits and bare)</text>`,
      ...parts,
      '</svg>',
    ].join('\n') + '\n'
  )
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const PEERS: ReadonlyArray<readonly [scenario: string, label: string]> = [
  ['express', 'Express'],
  ['fastify', 'Fastify'],
  ['hono', 'Hono'],
]

/**
 * What a reader wants first: how much faster than what, on which routes. A few sentences and
 * one row per stack comparison (http-onion's req/s and its ratio to each peer with the same
 * features), from the same run as the tables; empty when no stack comparison ran.
 */
export function renderHeadline(run: RunResults): string {
  const rows = run.results
    .filter((c) => c.name.startsWith('stacks:'))
    .map((c) => ({
      route: c.name.slice('stacks:'.length).trim(),
      onion: c.rows.find((r) => r.scenario === 'onion'),
      peers: new Map(c.rows.map((r) => [r.scenario, r.rps.median])),
    }))
    .filter((row): row is typeof row & { onion: ScenarioResult } => row.onion !== undefined)
  const peers = PEERS.filter(([scenario]) => rows.some((row) => row.peers.has(scenario)))
  if (rows.length === 0 || peers.length === 0) return ''
  const ratio = (row: (typeof rows)[number], peer: string): number | undefined => {
    const rps = row.peers.get(peer)
    return rps === undefined || rps <= 0 ? undefined : row.onion.rps.median / rps
  }
  const span = (peer: string): string => {
    const ratios = rows.map((row) => ratio(row, peer)).filter((r): r is number => r !== undefined)
    const low = Math.min(...ratios)
    const high = Math.max(...ratios)
    return low.toFixed(1) === high.toFixed(1) ? `${low.toFixed(1)}×` : `${low.toFixed(1)}–${high.toFixed(1)}×`
  }
  const spans = peers.map(([scenario, label]) => `${span(scenario)} ${label}`)
  const list = joinList(spans)
  const first = rows[0]!
  const firstRatios = peers
    .map(([scenario, label]) => {
      const r = ratio(first, scenario)
      return r === undefined ? undefined : `${r.toFixed(1)}× ${label}`
    })
    .filter((x): x is string => x !== undefined)
  // A streamed route is measured in MiB/s: its request rate says nothing.
  const rate = (r: ScenarioResult): string =>
    r.rps.median < 10 ? `${r.mibPerSecond.toFixed(0)} MiB/s` : `${Math.round(r.rps.median)} req/s`
  const head = ['route', 'http-onion', ...peers.map(([, label]) => `× ${label}`)]
  const table = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map(
      (row) =>
        `| ${row.route} | ${rate(row.onion)} | ${peers
          .map(([scenario]) => {
            const r = ratio(row, scenario)
            return r === undefined ? '' : `${r.toFixed(2)}×`
          })
          .join(' | ')} |`,
    ),
  ]
  return `How much faster, than what, on which routes: with the same features (request id, access
log, security headers, CORS, rate limit, compression, JWT; each peer stack built from its own
ecosystem's packages), http-onion served ${joinList(firstRatios)} the throughput on
the ${first.route} route, and ${list} across the ${rows.length} routes below. Where compression
does most of the work (large bodies, streams), every stack spends the same zlib time, so the
ratios there come closer to 1. Figures are medians of interleaved rounds in one run on one
machine; ratios carry over to other machines better than absolute numbers.

${table.join('\n')}

How each stack is built, what each layer costs alone, and the goals the project set follow.

`
}

function joinList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`
}

/** Write docs/benchmarks.md and docs/benchmarks.svg from `run`. */
export function renderBenchmarkDocs(run: RunResults, docsDir: string): void {
  writeFileSync(join(docsDir, 'benchmarks.svg'), renderChart(run))
  writeFileSync(join(docsDir, 'benchmarks.md'), renderMarkdown(run))
}

export function renderMarkdown(run: RunResults): string {
  const goals = evaluateGoals(run)
  const machine = run.machine
  const used = [...new Set(run.results.flatMap((c) => c.rows.map((r) => r.scenario)))]
  return `# Benchmarks

${renderHeadline(run)}Generated by \`npm run bench\` on ${run.date.slice(0, 10)} (${run.seconds} s); do not edit by hand. The raw
figures are in [benchmarks/results/latest.json](../benchmarks/results/latest.json).

Method: every scenario runs in its own server process pinned to core 0, autocannon in the
runner pinned to core 1 (${machine.pinned ? 'taskset was available' : 'no taskset on this machine'}), ${machine.connections} connections,
${machine.rounds} interleaved rounds of ${machine.duration} s per scenario (A B C, B C A, …) after a warm-up, so drift on a
shared machine hits every scenario alike. The comparisons with the hand-written limit start every
scenario afresh for each round (a new process, warmed up, measured once): a Node process can
settle in a slower state for its whole life, and the median over rounds then sets one such
process aside instead of carrying it into every round; their peak RSS is the median over those
processes. Figures are medians, with min–max over the rounds, and
ratios to the baseline measured in the same run; absolute numbers depend on the machine, ratios
much less. Before timing, one request to each stack checks that the features it claims are on
(request id, CORS, security headers, gzip). Server CPU time per request is the steadier figure
on a shared machine. The peer stacks are in [benchmarks/peers/](../benchmarks/peers) with their
packages in [benchmarks/package.json](../benchmarks/package.json).

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; mode ${machine.mode}.

\`\`\`sh
npm run bench                 # the headline comparisons (this page)
npm run bench -- --quick      # the stacks only, under 2 minutes
npm run bench -- --all        # every comparison, including per-middleware details
npm run bench -- --only=flow  # comparisons whose name contains "flow"
\`\`\`

![Throughput by stack](benchmarks.svg)

## Goals

| issue | goal | measured | met |
|---|---|---|---|
${goals.map((g) => `| ${g.issue} | ${g.goal} | ${g.measured} | ${g.met === undefined ? '' : g.met ? 'yes' : '**no**'} |`).join('\n')}

${run.results.map((c) => `## ${c.name}\n\n${c.method} \`${c.route}\`; ratios to \`${c.baseline}\`${c.pinned === false ? '; servers unpinned' : ''}.\n\n${table(c)}\n`).join('\n')}
## Scenarios

| scenario | what it is |
|---|---|
${used.map((s) => `| \`${s}\` | ${(run.descriptions[s] ?? '').replace(/\|/g, '\\|')} |`).join('\n')}
`
}

/** What benchmarks/scenarios/layers.ts declares: the scenario names of the per-layer table. */
export interface LayerTableSpec {
  route: string
  bare: string
  stack: string
  /** The same work written by hand (the issue's limit), when measured. */
  limit?: string
  layers: Array<{ name: string; alone: string; without: string }>
}

/** A `--layers` run. */
export interface LayerTableResult extends LayerTableSpec {
  date: string
  machine: Record<string, unknown>
  seconds: number
  rounds: number
  /** Rounds each set of server processes served before a fresh set replaced it (absent before stop 34: one set). */
  restartEvery?: number
  requests: number
  connections: number
  rows: Array<{
    scenario: string
    minCpuMicros: number
    medianCpuMicros: number
    /** CPU µs/req of each round, in round order (absent from tables written before it was recorded). */
    cpuMicrosByRound?: number[]
    scavengesPer10k: number
    markCompactsPer10k: number
  }>
}

const LAYERS_BEGIN = '<!-- layers:begin (generated by `npm run bench -- --layers`; do not edit by hand) -->'
const LAYERS_END = '<!-- layers:end -->'

/** The per-layer cost table as Markdown. */
export function renderLayerTable(result: LayerTableResult): string {
  const get = (scenario: string) => result.rows.find((r) => r.scenario === scenario)!
  const bare = get(result.bare)
  const stack = get(result.stack)
  const gc = (r: LayerTableResult['rows'][number]) =>
    `${fixed(r.scavengesPer10k, 1)} / ${fixed(r.markCompactsPer10k, 2)}`
  const signed = (n: number) => `${n >= 0 ? '+' : '−'}${fixed(Math.abs(n), 1)}`
  const optional = (n: number | undefined) => (n === undefined ? '' : signed(n))
  const lines = [
    `Generated on ${result.date.slice(0, 10)} (${result.seconds} s): GET \`${result.route}\` (1 KB JSON, below the compression`,
    `threshold) with a browser's Origin and Accept-Encoding; every server pinned to core 0 under \`--trace-gc\`,`,
    `${result.rounds} interleaved rounds of ${result.requests.toLocaleString('en')} requests on ${result.connections} connections${
      result.restartEvery !== undefined && result.restartEvery < result.rounds
        ? `, every server started afresh every ${result.restartEvery} rounds (a process can settle in a slower state for its life; see below)`
        : ''
    }.`,
    'CPU is server user+system time per request, the minimum over the rounds; GC is collections per',
    `10,000 requests over all rounds (scavenges / mark-compacts). Machine: ${String(result.machine.cpu)},`,
    `${String(result.machine.cores)} cores, Node ${String(result.machine.node)}; shared with other work, so read differences`,
    'of a few µs as noise. Raw figures: `benchmarks/results/layers-latest.json`.',
    '',
    `Bare node:http: **${fixed(bare.minCpuMicros, 1)} µs/req** (GC ${gc(bare)}). The whole stack: **${fixed(stack.minCpuMicros, 1)} µs/req**`,
    `(${signed(stack.minCpuMicros - bare.minCpuMicros)} over bare; GC ${gc(stack)}).`,
    ...(result.limit
      ? (() => {
          const limit = get(result.limit)
          const paired = pairedCpuRatio(stack, limit)
          return [
            `The same work written by hand in one handler (\`hand-written\`, the limit): **${fixed(limit.minCpuMicros, 1)} µs/req**`,
            `(GC ${gc(limit)}); the stack costs **${fixed(stack.minCpuMicros / limit.minCpuMicros)}×** the limit by the minima (goal ≤ 1.15×)` +
              (paired
                ? `, and **${fixed(paired.median)}×** taken round by round (median of ${paired.rounds} rounds, ${fixed(paired.min)}–${fixed(paired.max)}×).`
                : '.'),
          ]
        })()
      : []),
    '',
    '| layer | alone µs/req | alone over bare | paired | stack without it µs/req | its cost in the stack | paired | GC alone | GC stack without it |',
    '|---|---|---|---|---|---|---|---|---|',
  ]
  let sumAlone = 0
  let sumInStack = 0
  for (const layer of result.layers) {
    const alone = get(layer.alone)
    const without = get(layer.without)
    sumAlone += alone.minCpuMicros - bare.minCpuMicros
    sumInStack += stack.minCpuMicros - without.minCpuMicros
    const pairedAlone = pairedDifference(alone, bare)
    const pairedInStack = pairedDifference(stack, without)
    lines.push(
      `| ${layer.name} | ${fixed(alone.minCpuMicros, 1)} | ${signed(alone.minCpuMicros - bare.minCpuMicros)} | ${optional(pairedAlone)} | ` +
        `${fixed(without.minCpuMicros, 1)} | ${signed(stack.minCpuMicros - without.minCpuMicros)} | ${optional(pairedInStack)} | ${gc(alone)} | ${gc(without)} |`,
    )
  }
  lines.push(
    `| **sum** | | ${signed(sumAlone)} | | | ${signed(sumInStack)} | | | |`,
    '',
    `The stack costs ${signed(stack.minCpuMicros - bare.minCpuMicros)} µs over bare; its layers alone add up to ${signed(sumAlone)},`,
    `and their costs within the stack to ${signed(sumInStack)}. The "paired" columns take the same differences round by`,
    'round (the two servers of a difference ran in the same round, within a few seconds of each other when adjacent)',
    'and give their median: a slow spell of the shared machine that lands on both sides of a round cancels out, where',
    'the minima come from whichever rounds were quietest for each server.',
  )
  return lines.join('\n')
}

/** Replace the generated section of docs/performance.md (between its markers) with the table. */
export function renderLayerDocs(result: LayerTableResult, file: string): void {
  const text = readFileSync(file, 'utf8')
  const begin = text.indexOf(LAYERS_BEGIN)
  const end = text.indexOf(LAYERS_END)
  if (begin < 0 || end < begin) throw new Error(`${file} has no ${LAYERS_BEGIN} … ${LAYERS_END} section`)
  writeFileSync(file, `${text.slice(0, begin + LAYERS_BEGIN.length)}\n${renderLayerTable(result)}\n${text.slice(end)}`)
}

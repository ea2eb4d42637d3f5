import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import {
  evaluateGoals,
  limitRatios,
  pairedCpuRatio,
  renderChart,
  renderHeadline,
  renderLayerTable,
  renderMarkdown,
  type ComparisonResult,
  type LayerTableResult,
  type RunResults,
  type ScenarioResult,
} from '../../benchmarks/render.js'

const docs = new URL('../../docs/', import.meta.url)
const latest = new URL('../../benchmarks/results/latest.json', import.meta.url)

function result(scenario: string, rps: number, extra: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    scenario,
    rps: { median: rps, min: rps * 0.9, max: rps * 1.1 },
    mibPerSecond: rps / 1000,
    ratioToBaseline: 1,
    latencyMs: { p50: 2, p99: 9 },
    cpuMicrosPerRequest: 1e6 / rps,
    peakRssMiB: 60,
    rssGrowthMiB: 4,
    ttfbMs: undefined,
    errors: 0,
    ...extra,
  }
}

function comparison(name: string, baseline: string, rows: ScenarioResult[]): ComparisonResult {
  return { name, route: '/json', method: 'GET', baseline, rows }
}

/** A run whose every goal sits just above (`margin` > 1) or just below (`margin` < 1) its threshold. */
function run(margin: number): RunResults {
  return {
    date: '2026-11-23T09:00:00.000Z',
    machine: {
      cpu: 'test cpu',
      cores: 2,
      memoryGiB: 24,
      node: 'v20',
      pinned: true,
      duration: 3,
      rounds: 3,
      connections: 50,
      mode: 'default',
    },
    seconds: 600,
    descriptions: { onion: 'http-onion | the stack', bare: 'node:http' },
    results: [
      comparison('core: no-op layers', 'bare', [result('bare', 10000), result('noop-10', 9500 * margin)]),
      comparison('stacks: 1 KB JSON', 'bare', [
        result('bare', 20000, { peakRssMiB: 100 }),
        result('same-headers-limit', 10000),
        result('onion', 9000 * margin, {
          peakRssMiB: 120 / margin,
          cpuMicrosByRound: [115 / margin, 220 / margin, 390 / margin],
        }),
        result('fastify', 3600),
        result('express', 1500),
        // Round by round the stack costs 1.15, 1.10 and 1.30 times the limit (÷ margin): a
        // median of 1.15, where the ratio of the two medians (220 / 200) would say 1.10.
        result('hand-written', 9500, { cpuMicrosPerRequest: 200, cpuMicrosByRound: [100, 200, 300] }),
      ]),
      comparison('stacks: 64 KB JSON, gzip 6', 'bare', [
        result('gzip-limit', 1000),
        result('onion', 970 * margin, { cpuMicrosPerRequest: 1000 / 0.97 / margin }),
        // No per-round figures (results written before they were kept): judged on the medians.
        result('hand-written', 980, { cpuMicrosPerRequest: 1000 }),
      ]),
      comparison('stacks: 100 MiB streamed', 'hand-gzip-stream', [
        result('hand-gzip-stream', 1),
        result('onion', margin, { ttfbMs: 20 / margin, rssGrowthMiB: 32 / margin }),
      ]),
      comparison('middleware: each alone', 'bare', [result('bare', 10000), result('rate-limit-memory', 9500 * margin)]),
    ],
  }
}

t.test('evaluateGoals: every goal the issues set, met just above its threshold and missed just below', async (t) => {
  const above = evaluateGoals(run(1.001))
  const below = evaluateGoals(run(0.999))
  t.equal(
    above.length,
    12,
    'twelve goals: noop-10, four stack ratios, two ratios to the hand-written limit, the stream ratio, rateLimit, TTFB, RSS growth, peak RSS',
  )
  t.same(
    below.map((g) => g.goal),
    above.map((g) => g.goal),
  )
  for (const goal of above) t.equal(goal.met, true, `met: ${goal.goal} (${goal.measured})`)
  for (const goal of below) t.equal(goal.met, false, `missed: ${goal.goal} (${goal.measured})`)
  t.match(above.find((g) => g.goal.includes('Fastify'))!.measured, /^2\.50×$/, 'the ratio is reported as measured')
  t.match(
    below.find((g) => g.goal.includes('hand-written limit (1 KB'))!.measured,
    /^1\.15× CPU\/req, median of 3 paired rounds \(1\.10–1\.30×\)$/,
    'the 1 KB limit goal is judged round by round, not on the ratio of the medians (1.10×, which would pass)',
  )
  t.match(below.find((g) => g.goal.includes('hand-written limit (64 KB'))!.measured, /^1\.03× CPU\/req \(medians\)$/)
})

t.test('pairedCpuRatio: per-round ratios, their median and range; nothing without rounds on both sides', async (t) => {
  t.same(pairedCpuRatio({ cpuMicrosByRound: [20, 30, 44, 10] }, { cpuMicrosByRound: [10, 20, 40, 10] }), {
    median: 1.3,
    min: 1,
    max: 2,
    rounds: 4,
  })
  t.equal(pairedCpuRatio({ cpuMicrosByRound: [20] }, {}), undefined)
  t.equal(pairedCpuRatio({ cpuMicrosByRound: [20, 30] }, { cpuMicrosByRound: [10] }), undefined, 'rounds must pair up')
  const line = limitRatios(
    comparison('stacks: 1 KB JSON', 'bare', [
      result('hand-written', 1000, { cpuMicrosByRound: [40, 50, 60] }),
      result('onion', 800, { cpuMicrosByRound: [44, 60, 63] }),
    ]),
  )
  t.equal(line, undefined, 'no limit named by the comparison, no line')
  const named = { ...comparison('stacks: 1 KB JSON', 'bare', []), limit: 'hand-written' }
  named.rows = [
    result('hand-written', 1000, { cpuMicrosByRound: [40, 50, 60] }),
    result('onion', 800, { cpuMicrosByRound: [44, 60, 63] }),
  ]
  t.match(
    limitRatios(named),
    /round by round its CPU per request is 1\.10× the limit's \(median of 3 rounds, 1\.05–1\.20×\)\.$/,
  )
})

t.test('evaluateGoals: a goal whose scenarios were not run is left out, not reported as met', async (t) => {
  const partial = run(2)
  partial.results = partial.results.filter((c) => !c.name.startsWith('stacks:'))
  const goals = evaluateGoals(partial)
  t.same(
    goals.map((g) => g.issue),
    ['#2', '#6'],
  )
})

t.test(
  'renderMarkdown: machine, goals table, one table a comparison with ratios to each peer, escaped descriptions',
  async (t) => {
    const markdown = renderMarkdown(run(0.5))
    t.match(markdown, /Machine: test cpu, 2 cores, 24 GiB, Node v20; mode default\./)
    t.match(markdown, /\| #10 \| production stack ≥ 2\.5× the Fastify stack \(1 KB route\) \| 1\.25× \| \*\*no\*\* \|/)
    t.match(markdown, /## stacks: 1 KB JSON\n\nGET `\/json`; ratios to `bare`\./)
    t.match(markdown, /\| `onion` \| 4500 \(4050–4950\) \| 1\.00 \| 2 \/ 9 \| 222\.2 \| 240\.0 \| 0 \|/)
    t.match(markdown, /http-onion against each peer: 1\.25× fastify, 3\.00× express\./)
    t.match(markdown, /\| TTFB ms \| RSS growth MiB \|/, 'stream comparisons add throughput, TTFB and RSS growth')
    t.match(markdown, /\| `onion` \| http-onion \\\| the stack \|/, 'a | in a description does not break the table')
  },
)

t.test('renderChart: a bar per scenario of each stack comparison, scaled to the fastest, names escaped', async (t) => {
  const sample = run(1)
  sample.results[1]!.rows.push(result('a<b&"c"', 5000))
  const svg = renderChart(sample)
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.ok(svg.trimEnd().endsWith('</svg>'))
  const bars = [...svg.matchAll(/<rect x="190" y="\d+" width="(\d+)" height="16" fill="(#[0-9a-f]+)"\/>/g)]
  t.equal(bars.length, 7 + 3 + 2, 'the three stack comparisons only (7, 3 and 2 scenarios)')
  t.equal(Number(bars[0]![1]), 520, 'the fastest of a group spans the chart')
  t.equal(Number(bars[2]![1]), Math.round((9000 / 20000) * 520), 'the others in proportion')
  t.equal(bars[2]![2], '#2f7d32', 'http-onion in green')
  t.equal(bars[3]![2], '#8a8f98', 'peers in grey')
  t.match(svg, />a&lt;b&amp;&quot;c&quot;</)
  t.notMatch(svg, /a<b/)
})

t.test(
  'docs/benchmarks.md and .svg are what the committed results render to: generated, not edited',
  { skip: !existsSync(latest) && 'no benchmarks/results/latest.json yet' },
  async (t) => {
    const committed = JSON.parse(readFileSync(latest, 'utf8')) as RunResults
    t.equal(readFileSync(new URL('benchmarks.md', docs), 'utf8'), renderMarkdown(committed))
    t.equal(readFileSync(new URL('benchmarks.svg', docs), 'utf8'), renderChart(committed))
  },
)

t.test('renderMarkdown: opens with how much faster than which peer, on which routes, before the goals', async (t) => {
  const markdown = renderMarkdown({
    ...run(1.1),
    results: [
      comparison('stacks: 1 KB JSON', 'bare', [
        result('bare', 20_000),
        result('onion', 6000),
        result('express', 1500),
        result('fastify', 3000),
        result('hono', 2000),
      ]),
      comparison('stacks: CORS preflight', 'express', [
        result('onion', 9000),
        result('express', 2250),
        result('fastify', 4500),
        result('hono', 4500),
      ]),
    ],
  })
  const intro = markdown.slice(0, markdown.indexOf('Generated by'))
  t.match(intro, /served 4\.0× Express, 2\.0× Fastify and 3\.0× Hono the throughput on\nthe 1 KB JSON route/)
  t.match(intro, /and 4\.0× Express, 2\.0× Fastify and 2\.0–3\.0× Hono across the 2 routes below/)
  t.match(intro, /\| route \| http-onion \| × Express \| × Fastify \| × Hono \|/)
  t.match(intro, /\| 1 KB JSON \| 6000 req\/s \| 4\.00× \| 2\.00× \| 3\.00× \|/)
  t.match(intro, /\| CORS preflight \| 9000 req\/s \| 4\.00× \| 2\.00× \| 2\.00× \|/)
  t.ok(markdown.indexOf('| route |') < markdown.indexOf('## Goals'), 'the summary comes before the goal table')
  t.equal(renderHeadline({ ...run(1), results: [] }), '', 'no stack comparison, no summary')
})

t.test('renderLayerTable: each layer by the minima and round by round, the stack against its limit', async (t) => {
  const rows = (scenario: string, cpu: number[]) => ({
    scenario,
    minCpuMicros: Math.min(...cpu),
    medianCpuMicros: cpu[1]!,
    cpuMicrosByRound: cpu,
    scavengesPer10k: 70,
    markCompactsPer10k: 0.1,
  })
  const table: LayerTableResult = {
    date: '2026-12-06T21:00:00.000Z',
    machine: { cpu: 'test cpu', cores: 2, node: 'v20', pinned: true },
    seconds: 120,
    rounds: 3,
    requests: 10_000,
    connections: 50,
    route: '/json',
    bare: 'bare',
    stack: 'stack',
    limit: 'hand-written',
    layers: [{ name: 'timing', alone: 'timing-alone', without: 'stack-without-timing' }],
    rows: [
      // Round 2 was slow for everyone: the minima pair a quiet round of one server with a
      // quiet round of another; the paired columns take each round's own difference.
      rows('bare', [20, 30, 21]),
      rows('timing-alone', [23, 36, 22]),
      rows('stack', [40, 55, 42]),
      rows('stack-without-timing', [39, 50, 41]),
      rows('hand-written', [34, 50, 35]),
    ],
  }
  const markdown = renderLayerTable(table)
  t.match(
    markdown,
    /\| timing \| 22\.0 \| \+2\.0 \| \+3\.0 \| 39\.0 \| \+1\.0 \| \+1\.0 \| 70\.0 \/ 0\.10 \| 70\.0 \/ 0\.10 \|/,
  )
  t.match(
    markdown,
    /the stack costs \*\*1\.18×\*\* the limit by the minima \(goal ≤ 1\.15×\), and \*\*1\.18×\*\* taken round by round \(median of 3 rounds, 1\.10–1\.20×\)\./,
  )
  const old = renderLayerTable({
    ...table,
    rows: table.rows.map(({ cpuMicrosByRound: _, ...rest }) => rest),
  })
  t.match(
    old,
    /\| timing \| 22\.0 \| \+2\.0 \| {2}\| 39\.0 \| \+1\.0 \| {2}\|/,
    'a table without rounds leaves the paired cells empty',
  )
  t.match(old, /the limit by the minima \(goal ≤ 1\.15×\)\.\n/)
})

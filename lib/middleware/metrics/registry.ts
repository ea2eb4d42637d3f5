/**
 * A small metrics registry and the Prometheus text exposition format (version 0.0.4) it
 * renders: `# HELP` and `# TYPE` per family, one sample per line, label values escaped
 * (`\\`, `\"`, `\n`), histograms as cumulative `_bucket{le}` lines ending in `le="+Inf"`,
 * then `_sum` and `_count`.
 *
 * Applications add counters, gauges and histograms of their own beside the HTTP metrics of
 * `metrics()`; every family caps its series (`maxSeries`), so no label can grow it without
 * bound. No runtime dependency: an OpenTelemetry collector scrapes the text (see the docs).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { reportError } from '../../core/report.js'

/** The Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Label values by label name: `{ queue: 'emails' }`. */
export type Labels = Readonly<Record<string, string>>

/** Anything the registry renders: a family of its own, or a collector such as `metrics()`'s. */
export interface MetricsCollector {
  /** The metric names it renders (checked for clashes when registered). */
  readonly names: readonly string[]
  /** Append its lines (each ending in `\n`) to `out`. */
  render(out: string[]): void
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Prometheus's default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
])

/** Most series one family of a registry holds by default; new label combinations past it are dropped. */
export const DEFAULT_MAX_SERIES = 10_000

/** Escape a label value: backslash, double quote and line feed (exposition format 0.0.4). */
export const escapeLabelValue = (value: string): string =>
  /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value

/** Escape a HELP text: backslash and line feed. */
export const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** A sample value as the format spells it: `+Inf`, `-Inf`, `NaN` or a Go-parsable float. */
export const formatValue = (value: number): string =>
  value === Number.POSITIVE_INFINITY ? '+Inf' : value === Number.NEGATIVE_INFINITY ? '-Inf' : String(value)

/** `{a="1",b="2"}` for the names and values given, or '' without labels. */
export function labelSet(names: readonly string[], values: readonly string[], extra = ''): string {
  let text = ''
  for (let i = 0; i < names.length; i++) text += `${i === 0 ? '' : ','}${names[i]}="${escapeLabelValue(values[i]!)}"`
  if (extra !== '') text += text === '' ? extra : `,${extra}`
  return text === '' ? '' : `{${text}}`
}

/** The `# HELP` and `# TYPE` lines of a family. */
export const familyHeader = (name: string, help: string, type: string): string =>
  `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`

/**
 * Append a histogram's sample lines: cumulative buckets, `+Inf`, `_sum`, `_count`. `counts`
 * holds one count per bucket (not cumulative) and the overflow last.
 */
export function renderHistogram(
  out: string[],
  name: string,
  labels: string,
  buckets: readonly string[],
  counts: ArrayLike<number>,
  sum: number,
): void {
  let cumulative = 0
  const open = labels === '' ? '{' : `${labels.slice(0, -1)},`
  for (let i = 0; i < buckets.length; i++) {
    cumulative += counts[i]!
    out.push(`${name}_bucket${open}le="${buckets[i]}"} ${cumulative}\n`)
  }
  cumulative += counts[buckets.length]!
  out.push(`${name}_bucket${open}le="+Inf"} ${cumulative}\n`)
  out.push(`${name}_sum${labels} ${formatValue(sum)}\n`)
  out.push(`${name}_count${labels} ${cumulative}\n`)
}

/** Check and copy histogram bounds: finite, strictly increasing, at least one. */
export function checkBuckets(buckets: unknown): number[] | undefined {
  if (!Array.isArray(buckets) || buckets.length === 0) return undefined
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]
    if (typeof b !== 'number' || !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1])) return undefined
  }
  return [...buckets]
}

/** Index of the first bucket whose bound is ≥ `value` (its `le`), or `bounds.length` for `+Inf`. */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let i = 0
  while (i < bounds.length && value > bounds[i]!) i++
  return i
}

/** A family of one type whose series are keyed by their label values. */
abstract class Family<S> implements MetricsCollector {
  readonly names: readonly string[]
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  protected readonly series = new Map<string, { values: readonly string[]; state: S }>()
  private readonly maxSeries: number
  private warned = false

  constructor(name: string, help: string, labelNames: readonly string[], maxSeries: number, suffixes: string[]) {
    if (typeof name !== 'string' || !METRIC_NAME.test(name))
      throw new TypeError(`metric name ${JSON.stringify(name)} must match ${METRIC_NAME}`)
    if (typeof help !== 'string') throw new TypeError(`metric ${name}: help must be a string`)
    if (!Array.isArray(labelNames)) throw new TypeError(`metric ${name}: labelNames must be an array`)
    for (const label of labelNames) {
      if (typeof label !== 'string' || !LABEL_NAME.test(label) || label.startsWith('__') || label === 'le')
        throw new TypeError(`metric ${name}: label name ${JSON.stringify(label)} is not allowed`)
    }
    if (!Number.isInteger(maxSeries) || maxSeries < 1)
      throw new TypeError(`metric ${name}: maxSeries must be a positive integer`)
    this.name = name
    this.help = help
    this.labelNames = Object.freeze([...labelNames])
    this.maxSeries = maxSeries
    this.names = suffixes.map((suffix) => name + suffix)
  }

  /** The state of the series for `labels`, made on first use; undefined past `maxSeries`. */
  protected state(labels: Labels | undefined): S | undefined {
    const values = this.labelNames.map((label) => {
      const value = labels?.[label]
      if (typeof value !== 'string') throw new TypeError(`metric ${this.name}: label "${label}" needs a string value`)
      return value
    })
    if (labels !== undefined && Object.keys(labels).length !== values.length)
      throw new TypeError(`metric ${this.name}: labels must be exactly ${JSON.stringify(this.labelNames)}`)
    const key = values.join('\u0000')
    let entry = this.series.get(key)
    if (entry === undefined) {
      if (this.series.size >= this.maxSeries) {
        if (!this.warned) {
          this.warned = true
          reportError(`metric ${this.name}`, new Error(`more than ${this.maxSeries} series; new label values dropped`))
        }
        return undefined
      }
      entry = { values, state: this.initial() }
      this.series.set(key, entry)
    }
    return entry.state
  }

  protected abstract initial(): S
  abstract render(out: string[]): void
}

class ValueState {
  value = 0
}

/** A value that only goes up. */
export class Counter extends Family<ValueState> {
  constructor(name: string, help: string, labelNames: readonly string[] = [], maxSeries = DEFAULT_MAX_SERIES) {
    super(name, help, labelNames, maxSeries, [''])
  }
  /** Add `by` (≥ 0, default 1) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new TypeError(`counter ${this.name}: inc() by ${by}; must be ≥ 0`)
    const state = this.state(labels)
    if (state) state.value += by
  }
  protected initial(): ValueState {
    return new ValueState()
  }
  render(out: string[]): void {
    out.push(familyHeader(this.name, this.help, 'counter'))
    for (const { values, state } of this.series.values())
      out.push(`${this.name}${labelSet(this.labelNames, values)} ${formatValue(state.value)}\n`)
  }
}

/** A value that goes up and down. */
export class Gauge extends Family<ValueState> {
  constructor(name: string, help: string, labelNames: readonly string[] = [], maxSeries = DEFAULT_MAX_SERIES) {
    super(name, help, labelNames, maxSeries, [''])
  }
  /** Set the series of `labels` to `value`. */
  set(labels: Labels | undefined, value: number): void {
    const state = this.state(labels)
    if (state) state.value = value
  }
  /** Add `by` (default 1; negative subtracts) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    const state = this.state(labels)
    if (state) state.value += by
  }
  protected initial(): ValueState {
    return new ValueState()
  }
  render(out: string[]): void {
    out.push(familyHeader(this.name, this.help, 'gauge'))
    for (const { values, state } of this.series.values())
      out.push(`${this.name}${labelSet(this.labelNames, values)} ${formatValue(state.value)}\n`)
  }
}

class HistogramState {
  readonly counts: Float64Array
  sum = 0
  constructor(size: number) {
    this.counts = new Float64Array(size)
  }
}

/** Observations counted into buckets (`le` upper bounds), with their sum and count. */
export class Histogram extends Family<HistogramState> {
  readonly buckets: readonly number[]
  private readonly bucketText: readonly string[]

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
    maxSeries = DEFAULT_MAX_SERIES,
  ) {
    super(name, help, labelNames, maxSeries, ['_bucket', '_sum', '_count'])
    const checked = checkBuckets(buckets)
    if (checked === undefined)
      throw new TypeError(`histogram ${name}: buckets must be finite numbers in increasing order, at least one`)
    this.buckets = Object.freeze(checked)
    this.bucketText = checked.map(formatValue)
  }
  /** Count `value` in the series of `labels`. */
  observe(labels: Labels | undefined, value: number): void {
    if (Number.isNaN(value)) throw new TypeError(`histogram ${this.name}: observe() NaN`)
    const state = this.state(labels)
    if (state === undefined) return
    state.counts[bucketIndex(this.buckets, value)]!++
    state.sum += value
  }
  protected initial(): HistogramState {
    return new HistogramState(this.buckets.length + 1)
  }
  render(out: string[]): void {
    out.push(familyHeader(this.name, this.help, 'histogram'))
    for (const { values, state } of this.series.values())
      renderHistogram(out, this.name, labelSet(this.labelNames, values), this.bucketText, state.counts, state.sum)
  }
}

/**
 * The metrics a process exposes: `metrics()`'s HTTP families and any of your own, rendered
 * in the order registered.
 * @example
 * const registry = new MetricsRegistry()
 * const jobs = registry.counter('jobs_total', 'Jobs run, by queue.', ['queue'])
 * jobs.inc({ queue: 'emails' })
 */
export class MetricsRegistry {
  private readonly collectors: MetricsCollector[] = []
  private readonly taken = new Set<string>()

  constructor() {
    // Handed around detached (`app.get('/metrics', registry.handler)`), so bound once here.
    this.handler = this.handler.bind(this)
  }

  /** Add a collector; throws a TypeError when one of its names is taken. Returns it. */
  register<C extends MetricsCollector>(collector: C): C {
    for (const name of collector.names) {
      if (this.taken.has(name)) throw new TypeError(`metric name "${name}" is already registered`)
    }
    for (const name of collector.names) this.taken.add(name)
    this.collectors.push(collector)
    return collector
  }

  /** A new counter, registered. */
  counter(name: string, help: string, labelNames?: readonly string[], maxSeries?: number): Counter {
    return this.register(new Counter(name, help, labelNames, maxSeries))
  }

  /** A new gauge, registered. */
  gauge(name: string, help: string, labelNames?: readonly string[], maxSeries?: number): Gauge {
    return this.register(new Gauge(name, help, labelNames, maxSeries))
  }

  /** A new histogram, registered; `buckets` are upper bounds in increasing order. */
  histogram(
    name: string,
    help: string,
    labelNames?: readonly string[],
    buckets?: readonly number[],
    maxSeries?: number,
  ): Histogram {
    return this.register(new Histogram(name, help, labelNames, buckets, maxSeries))
  }

  /** Every family in the text exposition format 0.0.4. */
  render(): string {
    const out: string[] = []
    for (const collector of this.collectors) collector.render(out)
    return out.join('')
  }

  /**
   * A handler answering `GET`/`HEAD` with {@link render} (405 otherwise). Mount it where only
   * your scraper reaches it: `mount('/metrics', registry.handler)` behind an auth layer, or on
   * a port of its own.
   */
  handler(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 })
      res.end()
      return
    }
    const body = this.render()
    res.writeHead(200, {
      'content-type': PROMETHEUS_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

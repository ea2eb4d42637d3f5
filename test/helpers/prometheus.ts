/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on
 * anything the format's grammar or its rules forbid, so a test that parses a rendering has
 * validated it. Checked: line grammar (names, label sets, escapes, float values), HELP and
 * TYPE at most once per family and before its samples, a family's samples contiguous, no
 * series twice, histograms with increasing `le` bounds, cumulative counts, a `+Inf` bucket
 * equal to `_count`, and a `_sum`.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  type: string | undefined
  help: string | undefined
  readonly samples: Sample[]
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*'
const VALUE = String.raw`(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)`
const HELP_LINE = new RegExp(String.raw`^# HELP (${NAME}) ((?:[^\\\n]|\\[\\n])*)$`)
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{[^\\n]*\\})? (${VALUE})(?: (-?\\d+))?$`)
const LABEL_PAIR = new RegExp(String.raw`^(${LABEL})="((?:[^"\\\n]|\\["\\n])*)"`)

const unescapeText = (text: string): string => text.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c))

function parseValue(text: string): number {
  if (/^\+?Inf$/.test(text)) return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  return Number(text)
}

function parseLabels(text: string | undefined, line: number): Record<string, string> {
  const labels: Record<string, string> = {}
  if (text === undefined) return labels
  let rest = text.slice(1, -1)
  while (rest !== '') {
    const pair = LABEL_PAIR.exec(rest)
    if (!pair) throw new Error(`line ${line}: bad label set ${text}`)
    if (pair[1]! in labels) throw new Error(`line ${line}: label ${pair[1]} twice`)
    labels[pair[1]!] = unescapeText(pair[2]!)
    rest = rest.slice(pair[0].length)
    if (rest.startsWith(',')) rest = rest.slice(1)
    else if (rest !== '') throw new Error(`line ${line}: bad label set ${text}`)
  }
  return labels
}

/** Parse and validate `text`; returns its families by name, in order. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  if (text === '') return families
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed')
  const lines = text.slice(0, -1).split('\n')
  const seriesSeen = new Set<string>()
  let current: Family | undefined
  const family = (name: string, line: number): Family => {
    let f = families.get(name)
    if (f === undefined) {
      f = { name, type: undefined, help: undefined, samples: [] }
      families.set(name, f)
    } else if (f !== current) throw new Error(`line ${line}: family ${name} is not contiguous`)
    current = f
    return f
  }
  lines.forEach((raw, i) => {
    const line = i + 1
    if (raw.startsWith('#')) {
      const help = HELP_LINE.exec(raw)
      const type = TYPE_LINE.exec(raw)
      if (help) {
        const f = family(help[1]!, line)
        if (f.help !== undefined) throw new Error(`line ${line}: second HELP for ${f.name}`)
        f.help = unescapeText(help[2]!)
      } else if (type) {
        const f = family(type[1]!, line)
        if (f.type !== undefined) throw new Error(`line ${line}: second TYPE for ${f.name}`)
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${f.name}`)
        f.type = type[2]
      } else throw new Error(`line ${line}: unexpected comment ${JSON.stringify(raw)}`)
      return
    }
    const sample = SAMPLE_LINE.exec(raw)
    if (!sample) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`)
    const name = sample[1]!
    const base = /_(bucket|sum|count)$/.test(name) ? name.replace(/_(bucket|sum|count)$/, '') : name
    const baseFamily = families.get(base)
    const owner = baseFamily?.type === 'histogram' || baseFamily?.type === 'summary' ? base : name
    const labels = parseLabels(sample[2], line)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seriesSeen.has(key)) throw new Error(`line ${line}: series ${key} twice`)
    seriesSeen.add(key)
    family(owner, line).samples.push({ name, labels, value: parseValue(sample[3]!) })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, Sample[]>()
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key)!.push(s)
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`)
    const count = samples.find((s) => s.name === `${f.name}_count`)
    const sum = samples.find((s) => s.name === `${f.name}_sum`)
    if (buckets.length === 0 || count === undefined || sum === undefined)
      throw new Error(`${f.name}${key}: needs _bucket, _sum and _count`)
    let previousLe = Number.NEGATIVE_INFINITY
    let previousCount = 0
    for (const b of buckets) {
      if (b.labels.le === undefined) throw new Error(`${f.name}${key}: a bucket without le`)
      const le = parseValue(b.labels.le)
      if (!(le > previousLe)) throw new Error(`${f.name}${key}: le ${b.labels.le} not increasing`)
      if (b.value < previousCount) throw new Error(`${f.name}${key}: bucket counts not cumulative`)
      previousLe = le
      previousCount = b.value
    }
    const last = buckets[buckets.length - 1]!
    if (last.labels.le !== '+Inf') throw new Error(`${f.name}${key}: the last bucket must be le="+Inf"`)
    if (last.value !== count.value)
      throw new Error(`${f.name}${key}: +Inf bucket ${last.value} ≠ _count ${count.value}`)
  }
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}

/** Every sample named `name`. */
export const samplesNamed = (families: Map<string, Family>, name: string): Sample[] =>
  [...families.values()].flatMap((f) => f.samples.filter((s) => s.name === name))

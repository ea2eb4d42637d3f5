import { readdirSync, readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import t from 'tap'
import * as onion from '../../lib/index.js'
import { ConfigError, type RawHandler } from '../../lib/index.js'

// The options tables of docs/middleware/*.md, and the http-onion options docs/migrating.md
// cites, checked against the factories themselves: every option a table names is one the
// factory accepts (constructing with it never fails as an unknown option), and every key of
// the exported `<name>Defaults` is in the table. Renaming or adding an option without its
// docs fails here.

/** A factory under test: builds it with `options` merged over what it requires. */
interface Factory {
  readonly build: (options: Record<string, unknown>) => unknown
  /** Options the factory cannot be built without, with working values. */
  readonly base: Record<string, unknown>
  /** The exported defaults, whose every key must be documented; undefined if none are exported. */
  readonly defaults: Readonly<Record<string, unknown>> | undefined
  /** Table rows that are positional arguments, not options. */
  readonly positional?: readonly string[]
}

const handler: RawHandler = (_req, res) => res.end()
// A client that never connects: redisStore() only defines its scripts on it.
const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false })
t.teardown(() => redis.disconnect())

const call =
  <O>(factory: (options: O) => unknown) =>
  (options: Record<string, unknown>) =>
    factory(options as O)

const factories: Record<string, Factory> = {
  accessLog: { build: call(onion.accessLog), base: { sink: () => undefined }, defaults: onion.accessLogDefaults },
  anyOf: {
    build: (options) => onion.anyOf(options, onion.apiKey({ keys: ['k'.repeat(32)] })),
    base: {},
    defaults: onion.anyOfDefaults,
  },
  apiKey: { build: call(onion.apiKey), base: { keys: ['k'.repeat(32)] }, defaults: onion.apiKeyDefaults },
  basicAuth: {
    build: call(onion.basicAuth),
    base: { users: [{ user: 'u', password: 'p' }] },
    defaults: onion.basicAuthDefaults,
  },
  bodyCapture: { build: call(onion.bodyCapture), base: {}, defaults: onion.bodyCaptureDefaults },
  bodyLimit: { build: call(onion.bodyLimit), base: {}, defaults: onion.bodyLimitDefaults },
  compression: { build: call(onion.compression), base: {}, defaults: onion.compressionDefaults },
  conditional: { build: call(onion.conditional), base: {}, defaults: onion.conditionalDefaults },
  cors: { build: call(onion.cors), base: {}, defaults: onion.corsDefaults },
  csrf: { build: call(onion.csrf), base: {}, defaults: onion.csrfDefaults },
  errorBoundary: { build: call(onion.errorBoundary), base: {}, defaults: onion.errorBoundaryDefaults },
  hooks: { build: call(onion.hooks), base: { after: () => undefined }, defaults: onion.hooksDefaults },
  httpsRedirect: { build: call(onion.httpsRedirect), base: {}, defaults: onion.httpsRedirectDefaults },
  ipFilter: { build: call(onion.ipFilter), base: { allow: ['loopback'] }, defaults: onion.ipFilterDefaults },
  jwtAuth: { build: call(onion.jwtAuth), base: { secret: 'x'.repeat(32) }, defaults: onion.jwtAuthDefaults },
  loadShedding: { build: call(onion.loadShedding), base: {}, defaults: onion.loadSheddingDefaults },
  metrics: { build: call(onion.metrics), base: {}, defaults: onion.metricsDefaults },
  mount: {
    build: (options) => onion.mount('/x', handler, options),
    base: {},
    defaults: onion.mountDefaults,
    positional: ['prefix', 'handler'],
  },
  proxyHeaders: {
    build: call(onion.proxyHeaders),
    base: { trustedProxies: ['loopback'] },
    defaults: onion.proxyHeadersDefaults,
  },
  rateLimit: { build: call(onion.rateLimit), base: {}, defaults: onion.rateLimitDefaults },
  memoryStore: { build: call(onion.memoryStore), base: {}, defaults: onion.memoryStoreDefaults },
  redisStore: { build: call(onion.redisStore), base: { client: redis }, defaults: onion.redisStoreDefaults },
  requestDecompression: {
    build: call(onion.requestDecompression),
    base: {},
    defaults: onion.requestDecompressionDefaults,
  },
  requestContext: { build: call(onion.requestContext), base: {}, defaults: onion.requestContextDefaults },
  requestId: { build: call(onion.requestId), base: {}, defaults: onion.requestIdDefaults },
  securityHeaders: { build: call(onion.securityHeaders), base: {}, defaults: onion.securityHeadersDefaults },
  session: { build: call(onion.session), base: { secrets: ['s'.repeat(32)] }, defaults: onion.sessionDefaults },
  memorySessionStore: { build: call(onion.memorySessionStore), base: {}, defaults: onion.memorySessionStoreDefaults },
  redisSessionStore: {
    build: call(onion.redisSessionStore),
    base: { client: redis },
    defaults: onion.redisSessionStoreDefaults,
  },
  timeout: { build: call(onion.timeout), base: {}, defaults: onion.timeoutDefaults },
  timing: { build: call(onion.timing), base: {}, defaults: onion.timingDefaults },
  traceContext: { build: call(onion.traceContext), base: {}, defaults: onion.traceContextDefaults },
  trustedHost: {
    build: call(onion.trustedHost),
    base: { allowedHosts: ['localhost'] },
    defaults: onion.trustedHostDefaults,
  },
  // when/unless take a filter { paths, methods, caseSensitive }; its defaults are not exported.
  when: {
    build: (filter) => onion.when(filter as onion.RequestFilter, onion.timing()),
    base: { paths: ['/x'] },
    defaults: undefined,
  },
}

/** Build, then release what the built object holds (samplers, stores' timers). */
function construct(factory: Factory, options: Record<string, unknown>): void {
  const built = factory.build({ ...factory.base, ...options }) as { close?: () => unknown } | undefined
  if (built && typeof built.close === 'function') void built.close()
}

const isUnknownOption = (err: unknown) => err instanceof ConfigError && /^\w+\(\): unknown option "/.test(err.message)

/**
 * Whether `factory` accepts `option`, set to its default, or for an option without one
 * (undefined in the defaults) to the working value of `base`, if any.
 */
function accepts(factory: Factory, option: string): { ok: boolean; why?: string } {
  const value = factory.defaults?.[option] ?? factory.base[option]
  try {
    construct(factory, { [option]: value })
    return { ok: true }
  } catch (err) {
    return isUnknownOption(err) ? { ok: false, why: (err as Error).message } : { ok: true }
  }
}

interface OptionsTable {
  readonly factory: string
  readonly rows: ReadonlyArray<{ name: string; cells: string[] }>
}

/** Every `| Name | Type | Default | Description |` table of a page, with the factory it documents. */
function optionsTables(markdown: string, pageFactory: string): OptionsTable[] {
  const tables: OptionsTable[] = []
  let heading = ''
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (/^#{1,6} /.test(line)) heading = line
    if (!/^\| *Name *\| *Type *\| *Default *\| *Description *\|/.test(line)) continue
    // A subsection such as "### memoryStore(options)" documents that factory.
    const factory = /^#+ (\w+)\(options\)/.exec(heading)?.[1] ?? pageFactory
    const rows: Array<{ name: string; cells: string[] }> = []
    for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
      const cells = splitRow(lines[i]!)
      rows.push({ name: /^`([^`]+)`$/.exec(cells[0]!)?.[1] ?? cells[0]!, cells })
    }
    tables.push({ factory, rows })
  }
  return tables
}

/** Cells of a table row; `\|` inside a cell is not a separator. */
function splitRow(row: string): string[] {
  return row
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim())
}

const camel = (file: string) => file.replace(/\.md$/, '').replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())
const pages = readdirSync('docs/middleware')
  .filter((f) => f.endsWith('.md'))
  .sort()

t.test('options tables: every middleware page has a factory checked here', async (t) => {
  for (const page of pages) t.ok(factories[camel(page)], `docs/middleware/${page} documents ${camel(page)}()`)
})

t.test('options tables: an unknown option is refused by every factory (the check below means something)', async (t) => {
  for (const [name, factory] of Object.entries(factories)) {
    t.throws(
      () => construct(factory, { notAnOptionOfAnyFactory: 1 }),
      { name: 'ConfigError', message: /^\w+\(\): unknown option "notAnOptionOfAnyFactory"; / },
      name,
    )
  }
})

for (const page of pages) {
  t.test(`options tables: docs/middleware/${page}`, async (t) => {
    const markdown = readFileSync(`docs/middleware/${page}`, 'utf8')
    const tables = optionsTables(markdown, camel(page))
    const documented = new Map<string, Set<string>>()
    for (const table of tables) {
      const factory = factories[table.factory]
      if (!factory) {
        t.fail(`${page}: a table documents ${table.factory}(), which this test does not know`)
        continue
      }
      const names = documented.get(table.factory) ?? new Set<string>()
      documented.set(table.factory, names)
      for (const row of table.rows) {
        names.add(row.name)
        t.match(row.name, /^[a-zA-Z]\w*$/, `${page}: the option column names one option: ${row.name}`)
        t.ok(
          row.cells.length === 4 && row.cells[2] !== '',
          `${page}: ${row.name} has a type, a default and a description`,
        )
        if (factory.positional?.includes(row.name)) continue
        const verdict = accepts(factory, row.name)
        t.ok(
          verdict.ok,
          `${page}: ${table.factory}() accepts the documented option ${row.name}${verdict.why ? ` (${verdict.why})` : ''}`,
        )
      }
    }
    // Every exported default is documented on the page that documents its factory.
    for (const [name, names] of documented) {
      for (const key of Object.keys(factories[name]!.defaults ?? {})) {
        t.ok(names.has(key), `${page}: ${name}Defaults.${key} is in the options table`)
      }
    }
    if (tables.length === 0) {
      // A factory without options says so, and has no defaults to document.
      t.same(
        Object.keys(factories[camel(page)]?.defaults ?? { missing: true }),
        [],
        `${page}: no table, so no defaults`,
      )
      t.match(markdown, /^## Options\n+None/m, `${page}: says it has no options`)
    }
  })
}

/** The `factory({ a, b: … })` citations of the http-onion column of every table in `markdown`. */
function citedOptions(markdown: string): Array<{ factory: string; option: string; cell: string }> {
  const cited: Array<{ factory: string; option: string; cell: string }> = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('|')) continue
    const header = splitRow(lines[i]!)
    const column = header.findIndex((cell) => /^http-onion$/i.test(cell))
    if (column < 0) {
      while (i + 1 < lines.length && lines[i + 1]!.startsWith('|')) i++
      continue
    }
    for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
      const cell = splitRow(lines[i]!)[column] ?? ''
      for (const m of cell.matchAll(/`(\w+)\(\{ ?([^`]*?) ?\}\)`/g)) {
        for (const option of topLevelKeys(m[2]!)) cited.push({ factory: m[1]!, option, cell })
      }
    }
    i--
  }
  return cited
}

/** The keys of an object literal's text, `a, b: [x, y], c: { d }` → a, b, c. */
function topLevelKeys(text: string): string[] {
  let flat = text.replace(/'[^']*'|"[^"]*"/g, "''")
  // Drop nested brackets innermost first, so their commas and keys do not count.
  for (let before = ''; before !== flat; ) {
    before = flat
    flat = flat.replace(/\[[^[\]{}()]*\]|\{[^[\]{}()]*\}|\([^[\]{}()]*\)/g, '0')
  }
  return flat
    .split(',')
    .map((part) => /^\s*(\w+)/.exec(part)?.[1])
    .filter((key): key is string => key !== undefined)
}

t.test('options tables: the http-onion options cited in docs/migrating.md exist and are documented', async (t) => {
  const markdown = readFileSync('docs/migrating.md', 'utf8')
  const cited = citedOptions(markdown)
  t.ok(
    cited.length >= 60,
    `docs/migrating.md cites its options as factory({ option }) in http-onion columns (${cited.length} found)`,
  )
  const tableOptions = new Map<string, Set<string>>()
  for (const page of pages) {
    for (const table of optionsTables(readFileSync(`docs/middleware/${page}`, 'utf8'), camel(page))) {
      const names = tableOptions.get(table.factory) ?? new Set<string>()
      for (const row of table.rows) names.add(row.name)
      tableOptions.set(table.factory, names)
    }
  }
  for (const { factory: name, option, cell } of cited) {
    const factory = factories[name]
    if (!factory) {
      t.fail(`migrating.md cites ${name}(), which is no factory of http-onion: ${cell}`)
      continue
    }
    const verdict = accepts(factory, option)
    t.ok(verdict.ok, `migrating.md: ${name}() accepts ${option}${verdict.why ? ` (${verdict.why})` : ''}`)
    // The session stores are documented in prose on the session page, not in a table.
    if (tableOptions.has(name))
      t.ok(tableOptions.get(name)!.has(option), `migrating.md: ${name}({ ${option} }) is in its page's options table`)
  }
})

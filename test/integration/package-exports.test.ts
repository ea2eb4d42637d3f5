/**
 * The package's `exports` map: every subpath points into dist/ at a file the build makes
 * from an existing source (dist/lib/index.js ← lib/index.ts), the published `files` carry
 * it, every adapter has a subpath, each adapter module exports what docs/adapters.md
 * documents, and the two library entries split as docs/core.md says: `http-onion` for
 * applications, `http-onion/core` for middleware authors, sharing only a named few values. The build itself (tsc -p tsconfig.build.json) is checked elsewhere; here the
 * TypeScript sources are imported.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import t from 'tap'

interface PackageJson {
  name: string
  type: string
  exports: Record<string, string | Record<string, string>>
  files: string[]
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as PackageJson
const docs = readFileSync('docs/adapters.md', 'utf8')

/** The source a built file comes from: ./dist/adapters/express.d.ts → adapters/express.ts. */
function sourceOf(target: string): string {
  if (!target.startsWith('./dist/')) return target.replace(/^\.\//, '')
  return target.replace(/^\.\/dist\//, '').replace(/\.d\.ts$|\.js$/, '.ts')
}

const subpaths = Object.entries(pkg.exports)

t.test('package exports: every target maps to a source file that exists', async (t) => {
  t.equal(pkg.type, 'module')
  t.ok(subpaths.length >= 6)
  for (const [subpath, target] of subpaths) {
    const targets = typeof target === 'string' ? { default: target } : target
    for (const [condition, file] of Object.entries(targets)) {
      t.ok(existsSync(sourceOf(file)), `${subpath} (${condition}): ${file} ← ${sourceOf(file)}`)
    }
  }
})

/**
 * The repository's own condition (docs/contributing.md): it points each entry at its TypeScript
 * source for tap and tsc here. No consumer sets it, and the tarball does not ship its targets.
 */
const SOURCE_CONDITION = 'http-onion-source'

t.test('package exports: "types" comes before "default", and both name the same module', async (t) => {
  for (const [subpath, target] of subpaths) {
    if (typeof target === 'string') continue
    const published = Object.keys(target).filter((condition) => condition !== SOURCE_CONDITION)
    t.same(published, ['types', 'default'], `${subpath}: TypeScript reads the first matching condition`)
    t.equal(target.types!.replace(/\.d\.ts$/, ''), target.default!.replace(/\.js$/, ''), subpath)
    const source = target[SOURCE_CONDITION]
    if (source === undefined) continue
    // First, or a tool that also sets "types" or "default" would never reach it.
    t.equal(Object.keys(target)[0], SOURCE_CONDITION, `${subpath}: ${SOURCE_CONDITION} comes first`)
    t.equal(
      source.replace(/^\.\//, ''),
      sourceOf(target.default!),
      `${subpath}: ${SOURCE_CONDITION} is the built module's source`,
    )
  }
})

t.test('package exports: the published files contain every target', async (t) => {
  for (const [subpath, target] of subpaths) {
    const entries = typeof target === 'string' ? [['default', target]] : Object.entries(target)
    for (const [condition, file] of entries) {
      const path = file!.replace(/^\.\//, '')
      const shipped = path === 'package.json' || pkg.files.some((dir) => path.startsWith(`${dir}/`))
      if (condition === SOURCE_CONDITION) t.notOk(shipped, `${subpath}: ${path} (sources) stays out of the tarball`)
      else t.ok(shipped, `${subpath}: ${path} is inside "files" (${pkg.files.join(', ')})`)
    }
  }
})

t.test('package exports: every adapter has its subpath, named after its file', async (t) => {
  const adapters = readdirSync('adapters')
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
  t.ok(adapters.length >= 3)
  for (const name of adapters) {
    const target = pkg.exports[`./${name}`]
    t.ok(target, `./${name} is exported`)
    if (typeof target === 'object') t.equal(sourceOf(target.default!), `adapters/${name}.ts`)
  }
})

const documented: Record<string, string[]> = {
  './express': ['toExpress', 'fromExpress'],
  './koa': ['toKoa'],
  './fastify': ['toFastify', 'toFastifyHook'],
}

for (const [subpath, names] of Object.entries(documented)) {
  t.test(
    `package exports: ${pkg.name}${subpath.slice(1)} exports ${names.join(', ')}, and the docs name every export`,
    async (t) => {
      const target = pkg.exports[subpath] as Record<string, string>
      const module = (await import(pathToFileURL(sourceOf(target.default!)).href)) as Record<string, unknown>
      for (const name of names) t.equal(typeof module[name], 'function', `${name} is a function`)
      for (const name of Object.keys(module)) t.ok(docs.includes(`\`${name}(`), `docs/adapters.md documents ${name}()`)
      t.ok(
        docs.includes(`'${pkg.name}${subpath.slice(1)}'`),
        `docs/adapters.md imports from '${pkg.name}${subpath.slice(1)}'`,
      )
    },
  )
}

/** The module a subpath's "default" condition points at, imported from its TypeScript source. */
const entry = async (subpath: string): Promise<Record<string, unknown>> =>
  (await import(pathToFileURL(sourceOf((pkg.exports[subpath] as Record<string, string>).default!)).href)) as Record<
    string,
    unknown
  >

t.test('package exports: the main entry exports what apps need and every middleware factory', async (t) => {
  const main = await entry('.')
  for (const name of ['compose', 'sendError', 'serverTimeouts', 'getRequestId', 'getUserId', 'memoryStore']) {
    t.equal(typeof main[name], 'function', name)
  }
  for (const name of ['HttpError', 'ConfigError', 'OrderingError']) t.equal(typeof main[name], 'function', name)
  const undefinedExports = Object.entries(main)
    .filter(([, value]) => value === undefined)
    .map(([name]) => name)
  t.same(undefinedExports, [], 'no export is undefined (a re-export of a name that does not exist)')
  const factories = readdirSync('lib/middleware')
    .map((f) => f.replace(/\.ts$/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase()))
    .filter((name) => name in main)
  t.ok(factories.length >= 23, `${factories.length} middleware factories exported`)
  for (const name of factories) t.equal(typeof main[name], 'function', name)
})

t.test('package exports: http-onion/core exports the building blocks of middleware', async (t) => {
  t.equal(sourceOf((pkg.exports['./core'] as Record<string, string>).default!), 'lib/core.ts')
  const core = await entry('./core')
  for (const name of [
    'defineMiddleware',
    'onResponseStart',
    'onResponseEnd',
    'transformBody',
    'defineState',
    'withDefaults',
    'expectInteger',
    'sendError',
    'reportError',
    'getCookie',
    'defineRedisScript',
  ]) {
    t.equal(typeof core[name], 'function', name)
  }
  for (const name of ['requestIdState', 'userIdState', 'traceState', 'originalUrlState', 'corsPreflightState']) {
    t.equal(typeof (core[name] as { get?: unknown } | undefined)?.get, 'function', `${name} is a state key`)
  }
  const undefinedExports = Object.entries(core)
    .filter(([, value]) => value === undefined)
    .map(([name]) => name)
  t.same(undefinedExports, [], 'no export is undefined (a re-export of a name that does not exist)')
  const factories = readdirSync('lib/middleware')
    .map((f) => f.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()))
    .filter((name) => name in core)
  t.same(factories, [], 'no middleware factory: those are the main entry')
})

t.test('package exports: the two entries share only the values docs/core.md names as shared', async (t) => {
  const main = await entry('.')
  const core = await entry('./core')
  const shared = Object.keys(core)
    .filter((name) => name in main)
    .sort()
  t.same(shared, ['ConfigError', 'HttpError', 'clientIdentity', 'clientIp', 'sendError'])
  for (const name of shared) t.equal(main[name], core[name], `${name} is the same value in both`)
  const coreDoc = readFileSync('docs/core.md', 'utf8')
  for (const name of shared)
    t.match(coreDoc, new RegExp(`both entries[^\\n]*\`${name}\``), `docs/core.md names ${name}`)
})

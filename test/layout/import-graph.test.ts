/**
 * The layout's rules, read from the import graph of lib/ and adapters/ (docs/contributing.md):
 * a middleware imports only core/, stores/ and its own folder; core/ and stores/ import no
 * middleware; adapters import only core/; nothing imports in a cycle. Each failure names the
 * importing file, the import and the rule it breaks.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Every .ts file under `dir`, as a path relative to the repository root with '/' separators. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort()
}

// Static imports and re-exports (`import … from`, `export … from`, bare `import '…'`) and
// dynamic `import('…')`; type-only imports count too, as they tie the files together just the same.
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/** The repository files `file` imports (relative specifiers only; packages and built-ins are not files here). */
export function importsOf(file: string, text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3]!
    if (!specifier.startsWith('.')) continue
    const target = join(dirname(file), specifier.replace(/\.js$/, '.ts')).split('\\').join('/')
    found.push(target)
  }
  return found
}

/** Why `from` may not import `to`, or undefined when the layout allows it. */
export function brokenRule(from: string, to: string): string | undefined {
  const own = /^lib\/middleware\/([^/]+)\//.exec(from)
  if (own) {
    if (to.startsWith('lib/core/') || to.startsWith('lib/stores/') || to.startsWith(`lib/middleware/${own[1]}/`)) return
    return `a middleware imports only lib/core/, lib/stores/ and its own folder (lib/middleware/${own[1]}/); move what two middleware share into lib/core/`
  }
  if (from.startsWith('lib/core/') && !to.startsWith('lib/core/')) {
    return 'lib/core/ imports only lib/core/: the building blocks know no middleware, store or entry point'
  }
  if (from.startsWith('lib/stores/') && !(to.startsWith('lib/core/') || to.startsWith('lib/stores/'))) {
    return 'a store imports only lib/core/ and lib/stores/: stores know no middleware'
  }
  if (from.startsWith('adapters/') && !to.startsWith('lib/core/')) {
    return 'an adapter imports only lib/core/: it translates calls and adds no behaviour of a middleware'
  }
  return undefined
}

/** Every cycle in `graph`, each as the files along it, starting and ending at the same file. */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (file: string): void => {
    state.set(file, 'open')
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next])
      else if (state.get(next) === undefined) visit(next)
    }
    path.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file)
  return found
}

const files = [...sources('lib'), ...sources('adapters')]
const graph = new Map(files.map((file) => [file, importsOf(file, readFileSync(join(ROOT, file), 'utf8'))]))

t.test('the graph is read: every middleware folder is found and every import resolves to a file', async (t) => {
  const folders = new Set(files.flatMap((file) => /^lib\/middleware\/([^/]+)\//.exec(file)?.[1] ?? []))
  t.ok(folders.size >= 20, `found ${folders.size} middleware folders`)
  t.ok(
    [...graph.values()].some((targets) => targets.length > 0),
    'imports were found',
  )
  const fileSet = new Set(files)
  const missing = [...graph].flatMap(([file, targets]) =>
    targets.filter((target) => !fileSet.has(target)).map((target) => `${file} imports ${target}, which is no file`),
  )
  t.same(missing, [], missing.join('\n'))
})

t.test('every import keeps to the layout', async (t) => {
  const broken: string[] = []
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const rule = brokenRule(file, target)
      if (rule) broken.push(`${file} imports ${target}: ${rule}`)
    }
  }
  t.same(broken, [], broken.join('\n'))
})

t.test('no import cycle', async (t) => {
  const found = cycles(graph).map((cycle) => cycle.join(' -> '))
  t.same(found, [], found.join('\n'))
})

// The checks above must be able to fail: each rule and the cycle finder, on imports that break them.
t.test('the rules catch what they forbid', async (t) => {
  t.match(brokenRule('lib/middleware/api-key/api-key.ts', 'lib/middleware/jwt-auth/jwt-auth.ts'), /own folder/)
  t.equal(brokenRule('lib/middleware/api-key/api-key.ts', 'lib/core/auth-exemption.ts'), undefined)
  t.equal(brokenRule('lib/middleware/jwt-auth/jwt-auth.ts', 'lib/middleware/jwt-auth/keys.ts'), undefined)
  t.equal(brokenRule('lib/middleware/rate-limit/rate-limit.ts', 'lib/stores/rate-limit/memory.ts'), undefined)
  t.match(brokenRule('lib/middleware/cors/cors.ts', 'lib/index.ts'), /own folder/)
  t.match(brokenRule('lib/core/compose.ts', 'lib/middleware/cors/cors.ts'), /lib\/core\/ imports only/)
  t.match(brokenRule('lib/stores/session/redis.ts', 'lib/middleware/session/session.ts'), /stores know no middleware/)
  t.match(brokenRule('adapters/express.ts', 'lib/index.ts'), /adapter imports only/)
  t.same(
    importsOf(
      'lib/middleware/cors/cors.ts',
      "import type { X } from '../../core/types.js'\nexport { y } from './origin.js'\nimport 'node:fs'\nconst m = import('../timing/timing.js')\n",
    ),
    ['lib/core/types.ts', 'lib/middleware/cors/origin.ts', 'lib/middleware/timing/timing.ts'],
  )
  t.same(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
        ['d', ['a']],
      ]),
    ),
    [['a', 'b', 'c', 'a']],
  )
  t.same(
    cycles(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    [],
  )
})

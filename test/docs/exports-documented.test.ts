import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import * as core from '../../lib/core.js'
import * as main from '../../lib/index.js'

// Every export of both library entries, values and types, is documented on some page of
// docs/ (issue 17): named in a code span (`name`, `name(req)`, `name<T>`), or in a heading
// or a table row. Types leave no trace at run time, so the names come from the entries'
// export lists, checked against what the modules really export.

interface Entry {
  readonly file: string
  readonly module: Record<string, unknown>
}

const entries: readonly Entry[] = [
  { file: 'lib/index.ts', module: main },
  { file: 'lib/core.ts', module: core },
]

/** The names an entry exports, from its `export { ... } from` lists: values, and types apart. */
function exportLists(file: string): { values: string[]; types: string[] } {
  const values: string[] = []
  const types: string[] = []
  const source = readFileSync(file, 'utf8')
  for (const [, typeOnly, list] of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}\s+from/g)) {
    for (const raw of list!.split(',')) {
      const spec = raw.trim()
      if (spec === '') continue
      const isType = typeOnly !== undefined || spec.startsWith('type ')
      const name = spec
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()!
        .trim()
      ;(isType ? types : values).push(name)
    }
  }
  return { values, types }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

// The prose of every page, without fenced code (an import line documents nothing).
// The generated API reference (docs/api) lists every export by construction: it does not count.
const pages = walk('docs')
  .filter((f) => f.endsWith('.md') && !f.startsWith(join('docs', 'api')))
  .map((file) => ({ file, text: readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '') }))

const escapeName = (name: string): string => name.replace(/\$/g, '\\$')

function documentedOn(name: string): string | undefined {
  const inCode = new RegExp(`\`${escapeName(name)}(?![\\w$])`)
  const asWord = new RegExp(`(?<![\\w$])${escapeName(name)}(?![\\w$])`)
  for (const { file, text } of pages) {
    if (inCode.test(text)) return file
    for (const line of text.split('\n')) {
      if ((line.startsWith('#') || line.startsWith('|')) && asWord.test(line)) return file
    }
  }
  return undefined
}

for (const { file, module } of entries) {
  const { values, types } = exportLists(file)

  t.test(`${file}: the export lists read here are what the module exports`, async (t) => {
    t.same([...values].sort(), Object.keys(module).sort(), 'every value export is in an export list')
    t.ok(types.length > 0, `${types.length} type exports`)
    t.same(
      [...values, ...types].filter((name, i, all) => all.indexOf(name) !== i),
      [],
      'no name is exported twice',
    )
  })

  t.test(`${file}: every export is documented in docs/`, async (t) => {
    const missing = [...values, ...types].filter((name) => documentedOn(name) === undefined)
    t.same(missing, [], `exports no docs page mentions: ${missing.join(', ')}`)
  })
}

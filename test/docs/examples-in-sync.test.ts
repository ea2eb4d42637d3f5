import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

// Every TypeScript or JavaScript block in the README and docs/ must be part of a file
// under docs/examples/, which tests run, or a verbatim quote of the library's source:
// documentation that cannot rot.
// docs/api is generated from the sources (scripts/api-reference.ts): its blocks quote signatures,
// not examples, and api-reference.test.ts holds it to the sources.
const markdown = ['README.md', ...walk('docs').filter((f) => f.endsWith('.md') && !f.startsWith(join('docs', 'api')))]
const examples = [...walk('docs/examples'), ...walk('lib'), ...walk('adapters')]
  .filter((f) => /\.(ts|mts|js|mjs)$/.test(f))
  .map((f) => ({ file: f, text: normalize(readFileSync(f, 'utf8')) }))

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

/** Line endings only: examples import 'http-onion', 'http-onion/core', 'http-onion/express' as a reader does. */
function normalize(code: string): string {
  return code.replace(/\r\n/g, '\n')
}

// A copied example must compile in the reader's project: it imports the package by name (the
// repository resolves it to the sources through the "http-onion-source" export condition) and
// nothing only the repository has.
t.test('docs: examples import the package by name, never a relative path into lib/, adapters/ or test/', async (t) => {
  for (const { file, text } of examples.filter((e) => e.file.startsWith('docs/examples/'))) {
    const relative = [
      ...text.matchAll(/(?:from|import|reference path=)\s*\(?['"]((?:\.\.\/)+(?:lib|adapters|test)\/[^'"]*)['"]/g),
    ]
    t.same(
      relative.map((m) => m[1]),
      [],
      `${file} imports 'http-onion' (or 'http-onion/core', 'http-onion/<adapter>'), not a repository path`,
    )
  }
})

for (const file of markdown) {
  const text = readFileSync(file, 'utf8')
  const blocks = [...text.matchAll(/```(?:ts|typescript|js|javascript)\n([\s\S]*?)```/g)].map((m) => m[1]!)
  if (blocks.length === 0) continue
  t.test(`docs: every code block of ${file} is in a tested example`, async (t) => {
    for (const block of blocks) {
      const wanted = normalize(block).trim()
      const home = examples.find((e) => e.text.includes(wanted))
      t.ok(home, `${file}: block starting "${wanted.split('\n')[0]}" must appear verbatim in a docs/examples/ file`)
    }
  })
}

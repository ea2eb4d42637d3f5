import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import t from 'tap'

// Every relative link of the README and docs/ leads somewhere: the file exists, and a
// `#fragment` into a markdown page names one of its headings. docs/README.md, the index a
// newcomer follows, links every page.

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

const pages = ['README.md', ...walk('docs').filter((f) => f.endsWith('.md'))]

/** The markdown of `file` without its code (fenced blocks and inline code). */
const prose = (file: string) =>
  readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '')

/** GitHub's anchors for the headings of `file` (lower case, punctuation dropped, spaces as dashes, repeats numbered). */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>()
  const found = new Set<string>()
  for (const m of readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .matchAll(/^#{1,6} (.+)$/gm)) {
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    found.add(n === 0 ? base : `${base}-${n}`)
  }
  return found
}

for (const page of pages) {
  t.test(`links: every relative link of ${page} resolves`, async (t) => {
    for (const m of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!
      if (/^[a-z][a-z+.-]*:/i.test(link)) continue // http:, https:, mailto:
      const [path, fragment] = link.split('#') as [string, string | undefined]
      const target = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)))
      t.ok(existsSync(target), `${page}: ${link} → ${target} exists`)
      if (fragment && target.endsWith('.md') && existsSync(target)) {
        t.ok(anchors(target).has(fragment), `${page}: ${link} names a heading of ${target}`)
      }
    }
  })
}

t.test('links: docs/README.md links every page of docs/', async (t) => {
  const index = prose('docs/README.md')
  const linked = new Set([...index.matchAll(/\]\(([^)#\s]+)/g)].map((m) => normalize(join('docs', m[1]!))))
  for (const page of pages.filter((p) => p.startsWith('docs/') && p !== 'docs/README.md')) {
    t.ok(linked.has(page), `docs/README.md links ${page}`)
  }
})

import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

// Every docs/middleware page has what a user looks for (issue 10): a purpose, an options table
// with defaults, a runnable example, the ordering constraints, security notes and pitfalls.
// (test/docs/options-tables.test.ts checks the tables against the code, examples-in-sync.test.ts
// the examples.)

for (const page of readdirSync('docs/middleware')
  .filter((f) => f.endsWith('.md'))
  .sort()) {
  t.test(`docs/middleware/${page}: has every section`, async (t) => {
    const text = readFileSync(`docs/middleware/${page}`, 'utf8')
    t.match(text, /^# .+\n\n[A-Z][^\n]+\n/, 'a title, then the purpose in prose')
    t.match(
      text,
      /^\| *Name *\| *Type *\| *Default *\| *Description *\|$|^## Options\n+None/m,
      'an options table with defaults (or "None")',
    )
    t.match(text, /^```ts\n/m, 'an example')
    t.match(text, /^## Ordering\n/m, 'its ordering constraints')
    t.match(text, /^## Upgrades\n\n\S/m, 'what it does for a WebSocket handshake through handleUpgrades() (issue 21)')
    t.match(text, /^## Security notes\n\n- /m, 'security notes')
    t.match(text, /^## Pitfalls\n\n- /m, 'pitfalls')
    t.ok(
      text.includes(`](../../lib/middleware/${page.replace(/\.md$/, '')}/`),
      'a link into its source folder, lib/middleware/<page name>/',
    )
  })
}

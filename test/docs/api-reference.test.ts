import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { renderApiReference } from '../../scripts/api-reference.js'

// docs/api is generated from the TSDoc (npm run docs:api); it must be what the sources render
// to now, so a changed export or TSDoc comment fails here until the reference is regenerated.
// Its links are checked with every other page's by links.test.ts.

const pages = renderApiReference(process.cwd())

t.test('docs/api: every page is what the sources render to (run npm run docs:api)', async (t) => {
  t.same(readdirSync('docs/api').sort(), [...pages.keys()].sort(), 'the same pages, none left over')
  for (const [name, text] of pages) {
    t.equal(readFileSync(`docs/api/${name}`, 'utf8'), text, `docs/api/${name} is current`)
  }
})

t.test('docs/api: each export with its kind, signature, summary and defaults, linked to its guide', async (t) => {
  const main = pages.get('http-onion.md')!
  t.match(main, /### `cors`\n\n\*function\* · explained in \[cors\]\(\.\.\/middleware\/cors\.md\)/)
  t.match(main, /```ts\nfunction cors\(options\?: CorsOptions\): Middleware\n```/)
  t.match(main, /### `CorsOptions`\n\n\*interface\*/)
  t.match(
    main,
    /\| `maxAge\?` \| `number \\\| undefined` \| 600 \| Seconds a browser may cache a preflight/,
    'an options member with its type and @default',
  )
  t.match(pages.get('fastify.md')!, /### `fastifyRequestId`/)
  t.match(pages.get('core.md')!, /### `onResponseStart`/)
  t.notMatch(main, /\{@link/, 'TSDoc links are rendered as code')
})

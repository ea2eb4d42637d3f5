/**
 * What every benchmark scenario shares: the types, the routes each server answers, and a
 * loopback listener. Scenario files live in benchmarks/scenarios/ and are found by name.
 */
import { readdirSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { RawHandler } from '../lib/index.js'

/** A server under test; started in its own process. */
export interface Scenario {
  readonly description: string
  start(): Promise<Server>
}

/** A set of scenarios measured side by side, interleaved, on one route. */
export interface Comparison {
  readonly name: string
  readonly route: string
  readonly baseline: string
  readonly scenarios: readonly string[]
  /** Extra request headers (e.g. Accept-Encoding, Authorization). */
  readonly headers?: Readonly<Record<string, string>>
  readonly method?: string
}

/** What a scenario file exports. */
export interface ScenarioModule {
  readonly scenarios: Readonly<Record<string, Scenario>>
  readonly comparisons?: readonly Comparison[]
}

// ~1 KB of JSON, as an API answers.
export const smallJson = JSON.stringify({
  items: Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['alpha', 'beta'], price: 10.5 + i })),
})

/** The routes every scenario serves: `/json` (~1 KB JSON). Scenario files may add their own. */
export const routes: RawHandler = (req, res) => {
  if (req.url === '/json' || req.url === '/') {
    res.setHeader('content-type', 'application/json')
    res.end(smallJson)
    return
  }
  res.statusCode = 404
  res.end()
}

/** Listen on an ephemeral loopback port. */
export const listen = (handler: RequestListener): Promise<Server> =>
  new Promise((ok) => {
    const server = createServer(handler)
    server.listen(0, '127.0.0.1', () => ok(server))
  })

/** Every scenario module in benchmarks/scenarios/, loaded. */
export async function loadScenarioModules(): Promise<ScenarioModule[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'scenarios')
  const files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort()
  return Promise.all(files.map((f) => import(pathToFileURL(join(dir, f)).href) as Promise<ScenarioModule>))
}

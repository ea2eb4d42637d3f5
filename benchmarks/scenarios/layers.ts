/**
 * The per-layer cost table (`npm run bench -- --layers`, issue #20): the `onion` stack's
 * layers each alone over bare node:http, and the stack without each one, on the 1 KB route.
 * The runner reads {@link layerTable} for the scenario names; no comparison is declared
 * here, so the default and `--all` runs leave these out.
 */
import type { RequestListener } from 'node:http'
import { compose } from '../../lib/index.js'
import { listen, routes, type Scenario } from '../common.js'
import { scenarios as handWritten } from './hand-written.js'
import { onionLayers } from './production.js'

const layers = onionLayers('layers')

/** The table's rows: scenario names of bare, the whole stack, and each layer alone and left out. */
export const layerTable = {
  route: '/json',
  bare: 'layers-bare',
  stack: 'layers-stack',
  /** The same work written by hand in one handler (hand-written.ts): the stack's limit. */
  limit: 'layers-hand-written',
  layers: layers.map(({ name }) => ({ name, alone: `layers-only-${name}`, without: `layers-without-${name}` })),
}

const serve = (picked: typeof layers): Scenario['start'] => {
  return () => listen(compose(...picked.map(({ layer }) => layer()))(routes) as RequestListener)
}

export const scenarios: Record<string, Scenario> = {
  'layers-bare': { description: 'node:http, the handler alone', start: () => listen(routes) },
  'layers-stack': { description: 'the onion stack, every layer', start: serve(layers) },
  'layers-hand-written': handWritten['hand-written']!,
  ...Object.fromEntries(
    layers.flatMap((entry) => [
      [`layers-only-${entry.name}`, { description: `${entry.name} alone`, start: serve([entry]) }],
      [
        `layers-without-${entry.name}`,
        { description: `the onion stack without ${entry.name}`, start: serve(layers.filter((l) => l !== entry)) },
      ],
    ]),
  ),
}

/**
 * Draws docs/ordering.svg: the production stack as nested bands, outermost first, with the
 * request path going in on the left and the response path coming out on the right. The
 * drawing is generated from the stack itself, and test/docs/ordering.test.ts checks the
 * committed file equals what this renders, so the picture cannot drift from the code.
 *
 * Regenerate after changing the stack:
 *   node --import @tapjs/typescript/import test/helpers/ordering-svg.ts
 * @module
 */
import { writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import type { ComposedMiddleware } from '../../lib/index.js'
import { middlewareInfo } from '../../lib/core.js'
import { productionStack } from '../../docs/examples/production-stack.js'

/** The stack the docs explain, with the options the ordering test uses. */
export function documentedStack(): ComposedMiddleware {
  return productionStack({ jwtSecret: 'x'.repeat(32), logSink: () => {} })
}

// The catalogue's groups (DESIGN.md), one colour each: fill of the band, and its border.
const GROUPS: Record<string, { readonly label: string; readonly fill: string; readonly stroke: string }> = {
  flow: { label: 'flow', fill: '#ece6f6', stroke: '#6b4fa3' },
  edge: { label: 'edge', fill: '#e3f1e6', stroke: '#2f7d44' },
  observability: { label: 'observability', fill: '#e3edf8', stroke: '#2d6aa8' },
  traffic: { label: 'traffic', fill: '#fbeedd', stroke: '#b5651d' },
  identity: { label: 'identity', fill: '#f8e3e6', stroke: '#a8334a' },
}
const GROUP_OF: Record<string, string> = {
  errorBoundary: 'flow',
  hooks: 'flow',
  when: 'flow',
  unless: 'flow',
  mount: 'flow',
  proxyHeaders: 'edge',
  trustedHost: 'edge',
  httpsRedirect: 'edge',
  cors: 'edge',
  securityHeaders: 'edge',
  requestId: 'observability',
  traceContext: 'observability',
  timing: 'observability',
  accessLog: 'observability',
  requestContext: 'observability',
  compression: 'traffic',
  rateLimit: 'traffic',
  bodyLimit: 'traffic',
  bodyCapture: 'traffic',
  timeout: 'traffic',
  loadShedding: 'traffic',
  jwtAuth: 'identity',
  apiKey: 'identity',
  session: 'identity',
}

const WIDTH = 960
const BOX_LEFT = 100
const BOX_RIGHT = WIDTH - 100
const TOP = 96
const STRIP = 30 // the band's label strip
const INSET = 11 // horizontal step between nested bands
const FOOT = 7 // the band's bottom margin below the next band
const HANDLER = 46
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"

// Rough advance widths (px per character) of the label fonts, to keep a detail inside its band.
const NAME_CHAR = 8.4
const DETAIL_CHAR = 6

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The SVG text for `stack`'s layers around a handler described by `handlerLabel`. */
export function renderOrderingSvg(stack: ComposedMiddleware, handlerLabel: string): string {
  const layers = stack.layers.map((layer) => middlewareInfo(layer))
  const n = layers.length
  const innerTop = TOP + n * STRIP
  const innerBottom = innerTop + HANDLER
  const boxBottom = innerBottom + n * FOOT
  const legendY = boxBottom + 34
  const height = legendY + 34
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `role="img" aria-labelledby="title desc" font-family="${escapeXml(FONT)}">`,
    `  <title id="title">The onion: http-onion's production stack</title>`,
    `  <desc id="desc">${n} layers as nested bands, outermost first. A request passes them top to bottom ` +
      `to the handler; the response's headers pass them bottom to top, so an outer layer has the last word.</desc>`,
    '  <defs>',
    '    <marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">',
    '      <path d="M0,0 L10,5 L0,10 z" fill="#333"/>',
    '    </marker>',
    '  </defs>',
    `  <rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `  <text x="${WIDTH / 2}" y="34" text-anchor="middle" font-size="20" font-weight="600" fill="#222">` +
      'compose(...layers): the first layer is the outermost</text>',
    `  <text x="${WIDTH / 2}" y="58" text-anchor="middle" font-size="13" fill="#555">` +
      'docs/examples/production-stack.ts, as productionStack().explain() lists it</text>',
  )
  layers.forEach((info, i) => {
    const group = GROUPS[GROUP_OF[info.name] ?? 'flow']!
    const x = BOX_LEFT + i * INSET
    const y = TOP + i * STRIP
    const width = BOX_RIGHT - BOX_LEFT - 2 * i * INSET
    const bandHeight = boxBottom - i * FOOT - y
    const label = `${i + 1}. ${info.name}`
    const room = Math.floor((width - 24 - label.length * NAME_CHAR - 10) / DETAIL_CHAR)
    const detail =
      info.detail && info.detail.length > room ? `${info.detail.slice(0, Math.max(room - 1, 0))}…` : info.detail
    out.push(
      `  <g class="layer" data-name="${escapeXml(info.name)}">`,
      `    <rect x="${x}" y="${y}" width="${width}" height="${bandHeight}" rx="10" fill="${group.fill}" stroke="${group.stroke}" stroke-width="1.5"/>`,
      `    <text x="${x + 12}" y="${y + 20}" font-size="14" fill="#1b1b1b"><tspan font-weight="600">${escapeXml(label)}</tspan>` +
        (detail ? `<tspan dx="10" font-size="11.5" fill="#555">${escapeXml(detail)}</tspan>` : '') +
        '</text>',
      '  </g>',
    )
  })
  const hx = BOX_LEFT + n * INSET
  out.push(
    `  <rect x="${hx}" y="${innerTop}" width="${BOX_RIGHT - BOX_LEFT - 2 * n * INSET}" height="${HANDLER}" rx="10" fill="#ffffff" stroke="#333" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    `  <text x="${WIDTH / 2}" y="${innerTop + 28}" text-anchor="middle" font-size="14" fill="#1b1b1b">${escapeXml(handlerLabel)}</text>`,
    // Request path: down the left side, into the handler.
    `  <line x1="50" y1="${TOP}" x2="50" y2="${innerTop + HANDLER / 2}" stroke="#333" stroke-width="2" marker-end="url(#arrow)"/>`,
    `  <line x1="50" y1="${innerTop + HANDLER / 2}" x2="${hx - 4}" y2="${innerTop + HANDLER / 2}" stroke="#333" stroke-width="2" stroke-dasharray="3 3" marker-end="url(#arrow)"/>`,
    `  <text x="34" y="${(TOP + innerTop) / 2}" font-size="13" fill="#333" text-anchor="middle" transform="rotate(-90 34 ${(TOP + innerTop) / 2})">request path: outermost first</text>`,
    // Response path: from the handler, up the right side.
    `  <line x1="${WIDTH - hx + 4}" y1="${innerTop + HANDLER / 2}" x2="${WIDTH - 50}" y2="${innerTop + HANDLER / 2}" stroke="#333" stroke-width="2" stroke-dasharray="3 3"/>`,
    `  <line x1="${WIDTH - 50}" y1="${innerTop + HANDLER / 2}" x2="${WIDTH - 50}" y2="${TOP}" stroke="#333" stroke-width="2" marker-end="url(#arrow)"/>`,
    `  <text x="${WIDTH - 34}" y="${(TOP + innerTop) / 2}" font-size="13" fill="#333" text-anchor="middle" transform="rotate(90 ${WIDTH - 34} ${(TOP + innerTop) / 2})">response path: innermost first</text>`,
  )
  // Legend: the catalogue groups that appear in the stack.
  const present = [...new Set(layers.map((info) => GROUP_OF[info.name] ?? 'flow'))]
  let lx = BOX_LEFT
  for (const key of present) {
    const group = GROUPS[key]!
    out.push(
      `  <rect x="${lx}" y="${legendY - 12}" width="16" height="16" rx="3" fill="${group.fill}" stroke="${group.stroke}" stroke-width="1.5"/>`,
      `  <text x="${lx + 22}" y="${legendY + 1}" font-size="13" fill="#333">${group.label}</text>`,
    )
    lx += 42 + group.label.length * 6.5
  }
  out.push('</svg>', '')
  return out.join('\n')
}

/** What docs/ordering.svg holds. */
export function documentedSvg(): string {
  return renderOrderingSvg(documentedStack(), "handler: the site, with mount('/api', jwtAuth → API)")
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync('docs/ordering.svg', documentedSvg())
  console.log('wrote docs/ordering.svg')
}

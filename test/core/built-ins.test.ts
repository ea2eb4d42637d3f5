import { readdirSync } from 'node:fs'
import t from 'tap'
import * as onion from '../../lib/index.js'
import { middlewareInfo, type MiddlewareInfo } from '../../lib/core.js'
import { BUILT_IN_NAMES, BUILT_IN_RULES, type BuiltInRule } from '../../lib/core/built-ins.js'

const handler: onion.RawHandler = (_req, res) => res.end()

// Every built-in factory, built with what it cannot do without, keyed by the name it should give its layer.
const builders: Record<string, () => onion.Middleware> = {
  accessLog: () => onion.accessLog({ sink: () => undefined }),
  anyOf: () => onion.anyOf(onion.apiKey({ keys: ['k'.repeat(32)] })),
  apiKey: () => onion.apiKey({ keys: ['k'.repeat(32)] }),
  basicAuth: () => onion.basicAuth({ users: [{ user: 'u', password: 'p' }] }),
  bodyCapture: () => onion.bodyCapture(),
  bodyLimit: () => onion.bodyLimit(),
  compression: () => onion.compression(),
  conditional: () => onion.conditional(),
  cors: () => onion.cors(),
  csrf: () => onion.csrf(),
  errorBoundary: () => onion.errorBoundary(),
  hooks: () => onion.hooks({ after: () => undefined }),
  httpsRedirect: () => onion.httpsRedirect(),
  ipFilter: () => onion.ipFilter({ allow: ['loopback'] }),
  jwtAuth: () => onion.jwtAuth({ secret: 'x'.repeat(32) }),
  loadShedding: () => onion.loadShedding(),
  metrics: () => onion.metrics(),
  mount: () => onion.mount('/x', handler),
  proxyHeaders: () => onion.proxyHeaders({ trustedProxies: ['loopback'] }),
  rateLimit: () => onion.rateLimit(),
  requestContext: () => onion.requestContext(),
  requestDecompression: () => onion.requestDecompression(),
  requestId: () => onion.requestId(),
  securityHeaders: () => onion.securityHeaders(),
  session: () => onion.session({ secrets: ['s'.repeat(32)] }),
  timeout: () => onion.timeout(),
  timing: () => onion.timing(),
  traceContext: () => onion.traceContext(),
  trustedHost: () => onion.trustedHost({ allowedHosts: ['localhost'] }),
  // One inner layer would keep its own name; two make a group named after the filter.
  unless: () => onion.unless({ paths: ['/x'] }, onion.timing(), onion.requestContext()),
  when: () => onion.when({ paths: ['/x'] }, onion.timing(), onion.requestContext()),
}

/** Build `make`'s layer, read its info, then release what it holds (load shedding's sampler). */
function infoOf(make: () => onion.Middleware): MiddlewareInfo {
  const layer = make()
  const info = middlewareInfo(layer)
  const close = (layer as { close?: () => unknown }).close
  if (typeof close === 'function') void close.call(layer)
  return info
}

// The variants a factory can give its layer, by the options that choose them.
const variants: Record<string, readonly (() => onion.Middleware)[]> = {
  rateLimit: [
    () => onion.rateLimit({ key: 'ip' }),
    () => onion.rateLimit({ key: 'user' }),
    () => onion.rateLimit({ key: () => 'k' }),
  ],
  csrf: [false, true].map((tokenFallback) => () => onion.csrf({ tokenFallback })),
  requestId: [true, false, 'proxy' as const].map((trustIncoming) => () => onion.requestId({ trustIncoming })),
  traceContext: [true, false, 'proxy' as const].map((trustIncoming) => () => onion.traceContext({ trustIncoming })),
}
const variantsOf = (name: string): string[] => (variants[name] ?? []).map((make) => infoOf(make).variant!)

t.test('BUILT_IN_NAMES: is the name of every layer a built-in factory builds, and nothing else', async (t) => {
  t.same([...BUILT_IN_NAMES].sort(), Object.keys(builders).sort())
  for (const [name, make] of Object.entries(builders)) t.equal(infoOf(make).name, name, name)
})

t.test('BUILT_IN_NAMES: names a layer for every folder of lib/middleware/', async (t) => {
  const camel = (folder: string) => folder.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
  const folders = readdirSync('lib/middleware', { withFileTypes: true }).filter((d) => d.isDirectory())
  t.ok(folders.length > 20, `${folders.length} middleware folders`)
  for (const folder of folders) t.ok(BUILT_IN_NAMES.includes(camel(folder.name)), `${folder.name}/ is in the list`)
})

t.test('built-in layers declare no constraints of their own: the table holds them all', async (t) => {
  const infos = [...Object.values(builders), ...Object.values(variants).flat()].map(infoOf)
  for (const info of infos) {
    t.equal(info.wraps, undefined, `${info.name} declares no wraps`)
    t.equal(info.inside, undefined, `${info.name} declares no inside`)
  }
})

t.test('BUILT_IN_RULES: name built-in layers, and variants their factories give', async (t) => {
  for (const rule of BUILT_IN_RULES) {
    const label = `${rule.outer} wraps ${rule.inner}`
    t.ok(BUILT_IN_NAMES.includes(rule.outer), `${label}: ${rule.outer} is built in`)
    t.ok(BUILT_IN_NAMES.includes(rule.inner), `${label}: ${rule.inner} is built in`)
    t.not(rule.outer, rule.inner, label)
    t.match(rule.reason, /^\S.*[^.]$/, `${label}: the reason completes "because …", without a full stop`)
    for (const [name, wanted] of Object.entries(rule.only ?? {})) {
      t.ok(name === rule.outer || name === rule.inner, `${label}: only names one of its layers`)
      const possible = variantsOf(name)
      for (const variant of wanted) t.ok(possible.includes(variant), `${label}: ${name} can be "${variant}"`)
    }
  }
})

/** The rules as edges between layer variants (`rateLimit[key ip]`), every variant a rule covers. */
function edges(rules: readonly BuiltInRule[]): Array<{ from: string; to: string; rule: BuiltInRule }> {
  const nodes = (name: string, only: BuiltInRule['only']) => {
    const all = variantsOf(name)
    if (all.length === 0) return [name]
    return all.filter((v) => only?.[name]?.includes(v) ?? true).map((v) => `${name}[${v}]`)
  }
  return rules.flatMap((rule) =>
    nodes(rule.outer, rule.only).flatMap((from) => nodes(rule.inner, rule.only).map((to) => ({ from, to, rule }))),
  )
}

t.test('BUILT_IN_RULES: state each pair once, in one direction', async (t) => {
  const seen = new Map<string, BuiltInRule>()
  for (const { from, to, rule } of edges(BUILT_IN_RULES)) {
    const pair = [from, to].sort().join(' & ')
    t.notOk(seen.has(pair), `${pair}: one rule (${rule.reason})`)
    seen.set(pair, rule)
  }
  t.ok(seen.size > 80, `${seen.size} pairs`)
  // The checker above catches what it should.
  const twice: BuiltInRule[] = [
    { outer: 'cors', inner: 'jwtAuth', reason: 'a' },
    { outer: 'jwtAuth', inner: 'cors', reason: 'b' },
  ]
  t.equal(new Set(edges(twice).map(({ from, to }) => [from, to].sort().join())).size, 1)
})

t.test('BUILT_IN_RULES: have no cycle, so one order keeps them all', async (t) => {
  const next = new Map<string, string[]>()
  for (const { from, to } of edges(BUILT_IN_RULES)) next.set(from, [...(next.get(from) ?? []), to])
  t.same(findCycle(next), [])
  t.same(
    findCycle(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
      ]),
    ),
    ['a', 'b', 'c', 'a'],
  )
})

/** One cycle of the graph as a path that returns to its start, or [] if there is none. */
function findCycle(next: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string): string[] => {
    if (state.get(node) === 'done') return []
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node]
    state.set(node, 'open')
    path.push(node)
    for (const to of next.get(node) ?? []) {
      const cycle = visit(to)
      if (cycle.length > 0) return cycle
    }
    path.pop()
    state.set(node, 'done')
    return []
  }
  for (const node of next.keys()) {
    const cycle = visit(node)
    if (cycle.length > 0) return cycle
  }
  return []
}

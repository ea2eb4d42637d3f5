/**
 * Content-Security-Policy for securityHeaders(): directives validated and serialised
 * once, at construction. A policy that a browser would half-ignore (a stray `;` that
 * starts a new directive, `self` without quotes, which means the host named "self")
 * fails there instead.
 * @module
 */
import { ConfigError } from '../../core/errors.js'
import { expectPlainObject, unknownOption } from '../../core/options.js'

/**
 * Directives by name (`'default-src'` or `defaultSrc`): a list of sources, one string of
 * space-separated sources, `true` for a directive without value
 * (`upgrade-insecure-requests`), or `false`/`null` to drop a default.
 */
export type CspDirectives = Readonly<Record<string, readonly string[] | string | boolean | null>>

/** The default policy, for APIs: nothing may be loaded, framed, or used as a base or form target. */
export const cspApiDefaults: CspDirectives = Object.freeze({
  'default-src': Object.freeze(["'none'"]),
  'base-uri': Object.freeze(["'none'"]),
  'form-action': Object.freeze(["'none'"]),
  'frame-ancestors': Object.freeze(["'none'"]),
})

/** Helmet's defaults, for sites serving their own HTML: start from these with `useDefaults: false`. */
export const cspSiteDefaults: CspDirectives = Object.freeze({
  'default-src': Object.freeze(["'self'"]),
  'base-uri': Object.freeze(["'self'"]),
  'font-src': Object.freeze(["'self'", 'https:', 'data:']),
  'form-action': Object.freeze(["'self'"]),
  'frame-ancestors': Object.freeze(["'self'"]),
  'img-src': Object.freeze(["'self'", 'data:']),
  'object-src': Object.freeze(["'none'"]),
  'script-src': Object.freeze(["'self'"]),
  'script-src-attr': Object.freeze(["'none'"]),
  'style-src': Object.freeze(["'self'", 'https:', "'unsafe-inline'"]),
  'upgrade-insecure-requests': true,
})

// CSP Level 3 §6 and the directives defined elsewhere (Trusted Types, Mixed Content, Fenced Frames).
const SOURCE_LIST = new Set([
  'default-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'img-src',
  'font-src',
  'connect-src',
  'media-src',
  'object-src',
  'frame-src',
  'child-src',
  'worker-src',
  'manifest-src',
  'prefetch-src',
  'fenced-frame-src',
  'base-uri',
  'form-action',
  'frame-ancestors',
])
const OTHER = new Set([
  'sandbox',
  'report-uri',
  'report-to',
  'require-trusted-types-for',
  'trusted-types',
  'webrtc',
  'upgrade-insecure-requests',
  'block-all-mixed-content',
])
const NO_VALUE = new Set(['upgrade-insecure-requests', 'block-all-mixed-content', 'sandbox', 'trusted-types'])
const DIRECTIVES = [...SOURCE_LIST, ...OTHER]
// Both spellings are accepted, so a typo is matched against both: `scriptSr` → `scriptSrc`, `script-sr` → `script-src`.
const SPELLINGS = [
  ...DIRECTIVES,
  ...DIRECTIVES.map((name) => name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())),
]

// CSP3 §2.3.1 keyword-source, plus 'allow-duplicates' (Trusted Types); nonce and hash sources.
const QUOTED =
  /^'(?:self|none|unsafe-inline|unsafe-eval|strict-dynamic|unsafe-hashes|report-sample|unsafe-allow-redirects|wasm-unsafe-eval|inline-speculation-rules|allow-duplicates|script|nonce-[A-Za-z0-9+/_-]+={0,2}|sha(?:256|384|512)-[A-Za-z0-9+/_-]+={0,2})'$/
const UNQUOTED_KEYWORD =
  /^(?:self|none|unsafe-inline|unsafe-eval|strict-dynamic|unsafe-hashes|report-sample|wasm-unsafe-eval|nonce-.*|sha(?:256|384|512)-.*)$/
// Visible ASCII except the two separators: ";" ends a directive, "," ends a policy (CSP3 §2.2.1).
const SOURCE_CHARS = /^[\x21-\x2b\x2d-\x3a\x3c-\x7e]+$/

/**
 * Serialise `directives` (merged over {@link cspApiDefaults} when `useDefaults`), validating
 * every value. `option` is the path of the CSP settings; errors name a directive by the path
 * and spelling it was given with, e.g. `contentSecurityPolicy.directives.scriptSrc`.
 */
export function compileCsp(option: string, directives: CspDirectives, useDefaults: boolean): string {
  const path = `${option}.directives`
  expectPlainObject('securityHeaders', path, directives, 'an object of directives')
  // Directive name → [the key it was given as, its value].
  const merged = new Map<string, [string, unknown]>()
  if (useDefaults) for (const [name, value] of Object.entries(cspApiDefaults)) merged.set(name, [name, value])
  for (const [key, value] of Object.entries(directives)) merged.set(directiveName(path, key), [key, value])
  const parts: string[] = []
  for (const [name, [key, value]] of merged) {
    if (value === false || value === null || value === undefined) continue
    const where = `${path}.${key}`
    if (value === true) {
      if (!NO_VALUE.has(name))
        throw new ConfigError(
          'securityHeaders',
          where,
          'a list of sources (true is for directives without value)',
          value,
        )
      parts.push(name)
      continue
    }
    const sources = typeof value === 'string' ? value.split(/[ \t]+/).filter(Boolean) : value
    if (!Array.isArray(sources))
      throw new ConfigError('securityHeaders', where, 'a list of sources, a string, true or false', value)
    if (sources.length === 0) {
      throw new ConfigError(
        'securityHeaders',
        where,
        'a non-empty list of sources',
        value,
        `To allow nothing, write ["'none'"].`,
      )
    }
    for (const source of sources as unknown[]) checkSource(where, name, source)
    if (sources.length > 1 && sources.includes("'none'")) {
      throw new ConfigError(
        'securityHeaders',
        where,
        `"'none'" alone`,
        sources.join(' '),
        `'none' combined with other sources is ignored by browsers; remove one.`,
      )
    }
    parts.push(`${name} ${sources.join(' ')}`)
  }
  if (parts.length === 0)
    throw new ConfigError(
      'securityHeaders',
      option,
      'at least one directive',
      directives,
      'To send no policy, set contentSecurityPolicy: false.',
    )
  return parts.join('; ')
}

function directiveName(path: string, key: string): string {
  const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
  if (!SOURCE_LIST.has(name) && !OTHER.has(name))
    throw unknownOption('securityHeaders', path, key, SPELLINGS, DIRECTIVES)
  return name
}

function checkSource(where: string, directive: string, source: unknown): void {
  if (typeof source !== 'string' || !SOURCE_CHARS.test(source)) {
    throw new ConfigError(
      'securityHeaders',
      where,
      'sources of visible ASCII without spaces, ";" or ","',
      source,
      'Give each source as its own list item; ";" and "," would start a new directive or policy.',
    )
  }
  if (source.startsWith("'")) {
    if (!QUOTED.test(source)) {
      throw new ConfigError(
        'securityHeaders',
        where,
        "known quoted keywords ('self', 'none', 'unsafe-inline', 'nonce-…', 'sha256-…', …)",
        source,
      )
    }
  } else if (SOURCE_LIST.has(directive) && UNQUOTED_KEYWORD.test(source)) {
    throw new ConfigError(
      'securityHeaders',
      where,
      'keywords in single quotes',
      source,
      `Unquoted, "${source}" is a host name; write "'${source}'".`,
    )
  }
}

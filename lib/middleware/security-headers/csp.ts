/**
 * Content-Security-Policy for securityHeaders(): directives validated and serialised
 * once, at construction. A policy that a browser would half-ignore (a stray `;` that
 * starts a new directive, `self` without quotes, which means the host named "self")
 * fails there instead.
 * @module
 */
import { randomFillSync } from 'node:crypto'
import { ConfigError } from '../../core/errors.js'
import { expectPlainObject, unknownOption } from '../../core/options.js'
import { SF_KEY } from './structured-headers.js'

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
  return serialiseCsp(parseCsp(option, directives, useDefaults))
}

/** A validated policy: directive name → its sources, or `true` for a directive without value; in order. */
export type ParsedCsp = Map<string, readonly string[] | true>

/** Validate `directives` merged over the defaults, as {@link compileCsp} does, without serialising. */
export function parseCsp(option: string, directives: CspDirectives, useDefaults: boolean): ParsedCsp {
  const path = `${option}.directives`
  expectPlainObject('securityHeaders', path, directives, 'an object of directives')
  // Directive name → [the key it was given as, its value].
  const merged = new Map<string, [string, unknown]>()
  if (useDefaults) for (const [name, value] of Object.entries(cspApiDefaults)) merged.set(name, [name, value])
  for (const [key, value] of Object.entries(directives)) merged.set(directiveName(path, key), [key, value])
  const parsed: ParsedCsp = new Map()
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
      parsed.set(name, true)
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
    if (name === 'report-to' && (sources.length !== 1 || !SF_KEY.test(sources[0] as string))) {
      throw new ConfigError(
        'securityHeaders',
        where,
        'one endpoint name (lower-case letters, digits, "_", "-", ".", "*")',
        sources.join(' '),
        'Name an endpoint of reportingEndpoints.',
      )
    }
    parsed.set(name, Object.freeze([...(sources as string[])]))
  }
  if (parsed.size === 0)
    throw new ConfigError(
      'securityHeaders',
      option,
      'at least one directive',
      directives,
      'To send no policy, set contentSecurityPolicy: false.',
    )
  return parsed
}

/** The header value of a parsed policy. */
export function serialiseCsp(parsed: ParsedCsp): string {
  const parts: string[] = []
  for (const [name, sources] of parsed) parts.push(sources === true ? name : `${name} ${sources.join(' ')}`)
  return parts.join('; ')
}

/** The directives a nonce can go in: a nonce matches elements only, so never the `-attr` directives. */
export const NONCE_DIRECTIVES = Object.freeze(['script-src', 'script-src-elem', 'style-src', 'style-src-elem'])

// CSP3's fallback list ("get the effective directive"), for the directives above.
const FALLBACK: Readonly<Record<string, readonly string[]>> = {
  'script-src': ['default-src'],
  'script-src-elem': ['script-src', 'default-src'],
  'style-src': ['default-src'],
  'style-src-elem': ['style-src', 'default-src'],
}

/**
 * The policy `parsed` with a per-response nonce in each of `nonceDirectives`, split where
 * the nonce goes: the header of a response is `parts.join(nonce)`. A directive the policy
 * lacks is added with the sources the browser would have fallen back to (CSP3's fallback list:
 * `script-src-elem` → `script-src` → `default-src`), so adding the nonce loosens nothing
 * else; a lone `'none'` is replaced by the nonce.
 */
export function cspAroundNonce(parsed: ParsedCsp, nonceDirectives: readonly string[]): readonly string[] {
  const MARK = '\u0000'
  const withNonce: ParsedCsp = new Map(parsed)
  for (const name of nonceDirectives) {
    let sources = parsed.get(name)
    for (const fallback of FALLBACK[name]!) sources ??= parsed.get(fallback)
    const kept = sources === undefined || sources === true ? [] : sources.filter((s) => s !== "'none'")
    withNonce.set(name, [...kept, `'nonce-${MARK}'`])
  }
  return Object.freeze(serialiseCsp(withNonce).split(MARK))
}

// CSP3 asks for at least 128 bits, before encoding.
const NONCE_BYTES = 16

/**
 * A source of CSP nonces: 128 random bits each, base64 (CSP3 §2.3.1 base64-value). Bytes are
 * drawn from the CSPRNG 4 KiB at a time, each used once: a nonce costs a base64 encoding
 * instead of a call into OpenSSL (about 0.1 µs instead of 2 µs).
 */
export function nonceGenerator(): () => string {
  const pool = Buffer.allocUnsafeSlow(NONCE_BYTES * 256)
  let offset = pool.length
  return function nextNonce(): string {
    if (offset === pool.length) {
      randomFillSync(pool)
      offset = 0
    }
    const start = offset
    offset += NONCE_BYTES
    return pool.toString('base64', start, offset)
  }
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

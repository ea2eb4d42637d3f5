/**
 * Option handling shared by every factory: defaults, unknown-key detection, and the
 * validators that make bad settings fail at construction with a message naming the fix.
 * @module
 */
import { ConfigError, describeValue } from './errors.js'

/**
 * Merge `options` over `defaults`, rejecting keys that neither `defaults` nor
 * `optionalKeys` know (TypeScript only catches those in object literals).
 * An option given as `undefined` takes its default.
 */
export function withDefaults<T extends object>(
  middleware: string,
  defaults: T,
  options: object | undefined,
  optionalKeys: readonly string[] = [],
): T {
  if (options === undefined) return { ...defaults }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${middleware}(): options must be an object; received ${describeValue(options)}.`)
  }
  const known = [...Object.keys(defaults), ...optionalKeys]
  const merged = { ...defaults } as Record<string, unknown>
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      const guess = closest(key, known)
      throw new ConfigError(
        middleware,
        key,
        'a known option',
        value,
        guess ? `Unknown option; did you mean "${guess}"?` : `Unknown option; known options are ${known.join(', ')}.`,
      )
    }
    if (value !== undefined) merged[key] = value
  }
  return merged as T
}

/** Throws unless `value` is an integer within [min, max]. */
export function expectInteger(
  middleware: string,
  option: string,
  value: unknown,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
  fix = '',
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(middleware, option, rangeText('an integer', min, max), value, fix)
  }
  return value
}

/** Throws unless `value` is a finite number within [min, max]. */
export function expectNumber(
  middleware: string,
  option: string,
  value: unknown,
  min = 0,
  max = Number.MAX_VALUE,
  fix = '',
): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(middleware, option, rangeText('a number', min, max), value, fix)
  }
  return value
}

/** Throws unless `value` is a boolean. `fix`, as for every validator here, ends the message when there is advice to give. */
export function expectBoolean(middleware: string, option: string, value: unknown, fix = ''): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(middleware, option, 'true or false', value, fix)
  return value
}

/** Throws unless `value` is a function. */
export function expectFunction<F extends (...args: never[]) => unknown>(
  middleware: string,
  option: string,
  value: unknown,
  fix = '',
): F {
  if (typeof value !== 'function') throw new ConfigError(middleware, option, 'a function', value, fix)
  return value as F
}

/** Throws unless `value` is one of `choices`. */
export function expectOneOf<C extends string | number | boolean>(
  middleware: string,
  option: string,
  value: unknown,
  choices: readonly C[],
  fix = '',
): C {
  if (!choices.includes(value as C)) {
    throw new ConfigError(middleware, option, `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, value, fix)
  }
  return value as C
}

/** Throws unless `value` is a string (non-empty unless `allowEmpty`). */
export function expectString(middleware: string, option: string, value: unknown, allowEmpty = false, fix = ''): string {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0)) {
    throw new ConfigError(middleware, option, allowEmpty ? 'a string' : 'a non-empty string', value, fix)
  }
  return value
}

// RFC 9110 §5.1: field-name = token; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** True when `value` is an RFC 9110 token (header names, methods, parameter names). */
export const isToken = (value: string): boolean => TOKEN.test(value)

/** Throws unless `value` is a valid header name; returns it lower-cased. */
export function expectHeaderName(middleware: string, option: string, value: unknown, fix = ''): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new ConfigError(middleware, option, 'a header name (RFC 9110 token characters only)', value, fix)
  }
  return value.toLowerCase()
}

/** Throws unless `value` is an array whose every element passes `each`; returns a frozen copy. */
export function expectArray<T>(
  middleware: string,
  option: string,
  value: unknown,
  each: (item: unknown, index: number) => T,
): readonly T[] {
  if (!Array.isArray(value)) throw new ConfigError(middleware, option, 'an array', value)
  return Object.freeze(value.map(each))
}

function rangeText(kind: string, min: number, max: number): string {
  if (max >= Number.MAX_SAFE_INTEGER)
    return min === 0 ? `${kind} ≥ 0` : min === 1 && kind === 'an integer' ? 'a positive integer' : `${kind} ≥ ${min}`
  return `${kind} from ${min} to ${max}`
}

/** The known name nearest to `key` by edit distance, if it is close enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase())
    const prefixMatch =
      candidate.toLowerCase().startsWith(key.toLowerCase()) || key.toLowerCase().startsWith(candidate.toLowerCase())
    const score = prefixMatch ? Math.min(d, 1) : d
    if (score < bestDistance) {
      best = candidate
      bestDistance = score
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

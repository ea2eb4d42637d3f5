/**
 * Option handling shared by every factory: defaults, unknown-key detection, and the
 * validators that make bad settings fail at construction with a message naming the fix.
 * @module
 */
import { ConfigError, describeValue } from './errors.js'

/**
 * The defaults of an options type `T`, declared one way by every factory: each option of
 * `T` is a key, holding its default, and the options named in `NoDefault` hold `undefined`.
 * So the keys of a defaults object are exactly the options its factory knows, and tsc
 * refuses a defaults object that misses one, adds one, or gives a default to an option
 * declared without one. Declare it with {@link defineDefaults}.
 */
export type Defaults<T extends object, NoDefault extends keyof T = never> = {
  // `keyof Required<T>`, not `keyof T`: a mapped type over `keyof T` keeps `?` and would let
  // keys be left out; `-?` would turn the `undefined` of options without a default into never.
  readonly [K in keyof Required<T>]: K extends NoDefault ? undefined : Exclude<T[K], undefined>
}

/** What {@link withDefaults} accepts as defaults for options `T`: every option a key, none missing. */
export type DefaultsOf<T extends object> = { readonly [K in keyof Required<T>]: T[K] | undefined }

/** Options `T` merged over defaults `D`: an option with a default is never undefined. */
export type WithDefaults<T extends object, D> = {
  [K in keyof Required<T>]: undefined extends D[K & keyof D] ? T[K] | undefined : Exclude<T[K], undefined>
}

/**
 * Declare (and freeze) the defaults of options `T`; list the options without a default in
 * `NoDefault`, and give them `undefined`.
 * @example
 * export const rateLimitDefaults = defineDefaults<RateLimitOptions, 'skip' | 'store'>({ limit: 100, skip: undefined, store: undefined, ... })
 */
export function defineDefaults<T extends object, NoDefault extends keyof T = never>(
  defaults: Defaults<T, NoDefault>,
): Defaults<T, NoDefault> {
  return Object.freeze(defaults)
}

/**
 * Merge `options` over `defaults`, refusing keys that `defaults` does not have (TypeScript
 * only catches those in object literals). An option given as `undefined` takes its default.
 */
export function withDefaults<T extends object, D extends DefaultsOf<T>>(
  middleware: string,
  defaults: D,
  options: T | undefined,
): WithDefaults<T, D> {
  if (options === undefined) return { ...defaults } as WithDefaults<T, D>
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${middleware}(): options must be an object; received ${describeValue(options)}.`)
  }
  return merge(middleware, '', defaults, options) as WithDefaults<T, D>
}

/**
 * {@link withDefaults} for an options object inside the options, such as securityHeaders'
 * `strictTransportSecurity` or an entry of timeout's `perPath`. `path` is where it sits
 * (`'strictTransportSecurity'`, `'perPath[2]'`); unknown keys are refused by their full
 * path (`unknown option "strictTransportSecurity.maxage"; did you mean
 * "strictTransportSecurity.maxAge"?`), and the validators given `${path}.key` name the rest.
 * `undefined` takes the defaults whole; anything but a plain object is refused as not
 * `expected`.
 */
export function withNestedDefaults<T extends object, D extends DefaultsOf<T>>(
  middleware: string,
  path: string,
  defaults: D,
  value: T | undefined,
  expected = 'an object of options',
  fix = '',
): WithDefaults<T, D> {
  if (value === undefined) return { ...defaults } as WithDefaults<T, D>
  expectPlainObject(middleware, path, value, expected, fix)
  return merge(middleware, path, defaults, value) as WithDefaults<T, D>
}

/** Throws unless `value` is an object (not null, not an array), e.g. a nested options object or a map of names. */
export function expectPlainObject(
  middleware: string,
  option: string,
  value: unknown,
  expected = 'an object',
  fix = '',
): object {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(middleware, option, expected, value, fix)
  }
  return value
}

/**
 * The error for a key no option of `middleware` has, as one sentence:
 * `cors(): unknown option "maxAgeSeconds"; did you mean "maxAge"?`, or, when no known name
 * is close, `cors(): unknown option "x"; known options are a, b, c.` (or `requestContext() takes
 * no options.`). `path` is where the
 * key was found ('' at the top of the options), `known` the names allowed there, and
 * `listed` those to list when none is close (by default `known`). Its `option` is the full path.
 */
export function unknownOption(
  middleware: string,
  path: string,
  key: string,
  known: readonly string[],
  listed: readonly string[] = known,
): ConfigError {
  const option = optionPath(path, key)
  const guess = closest(key, known)
  const error = new ConfigError(middleware, option, 'a known option', undefined)
  // The "must be …; received …" form reads badly for a name that is no option at all.
  // V8 formats `stack` from the message when it is first read, so the stack agrees.
  const hint =
    guess !== undefined
      ? `did you mean "${optionPath(path, guess)}"?`
      : listed.length === 0
        ? `${path || middleware + '()'} takes no options.`
        : `known options${path ? ` of ${path}` : ''} are ${listed.join(', ')}.`
  error.message = `${middleware}(): unknown option "${option}"; ${hint}`
  return error
}

/** `key` inside the options object at `path`: `'maxAge'`, `'strictTransportSecurity.maxAge'`. */
export const optionPath = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`)

function merge(middleware: string, path: string, defaults: object, options: object): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...defaults }
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(defaults, key)) throw unknownOption(middleware, path, key, Object.keys(defaults))
    if (value !== undefined) merged[key] = value
  }
  return merged
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

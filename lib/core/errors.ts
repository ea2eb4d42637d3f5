/**
 * The library's error classes: configuration mistakes (thrown at construction),
 * ordering mistakes (thrown by a strict `compose`) and HTTP errors (answered to a client).
 * @module
 */

/** Thrown synchronously by a middleware factory when an option cannot work. */
export class ConfigError extends TypeError {
  readonly code = 'ERR_MIDDLEWARE_OPTION'
  readonly middleware: string
  readonly option: string

  constructor(middleware: string, option: string, expected: string, received: unknown, fix = '') {
    super(
      `${middleware}(): option "${option}" must be ${expected}; received ${describeValue(received)}.${fix && ' ' + fix}`,
    )
    this.name = 'ConfigError'
    this.middleware = middleware
    this.option = option
  }
}

/** Thrown by `compose({ strict: true }, ...)` when layers are in an order that breaks a declared constraint. */
export class OrderingError extends Error {
  readonly code = 'ERR_MIDDLEWARE_ORDER'
  constructor(message: string) {
    super(message)
    this.name = 'OrderingError'
  }
}

/** Options of {@link HttpError} beyond status and message. */
export interface HttpErrorOptions {
  /** Machine-readable code sent as `code`, e.g. `'token_expired'`. @default derived from the status */
  code?: string
  /** Whether `message` may be shown to the client. @default true below 500, false from 500 */
  expose?: boolean
  /** Extra response headers, e.g. `{ 'retry-after': '30' }`. */
  headers?: Record<string, string>
  /** Extra fields merged into the JSON body, e.g. `{ retryAfterSeconds: 30 }`. */
  details?: Record<string, unknown>
  /** The underlying error, kept for reports and never sent. */
  cause?: unknown
}

/**
 * An error that knows its HTTP answer. Throw it from a handler (or reject with it) and
 * `errorBoundary()` answers with its status and code; middleware answer with it directly.
 */
export class HttpError extends Error {
  readonly status: number
  readonly code: string
  readonly expose: boolean
  readonly headers: Readonly<Record<string, string>>
  readonly details: Readonly<Record<string, unknown>>

  constructor(status: number, message?: string, options: HttpErrorOptions = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HttpError: status must be an integer from 400 to 599; received ${describeValue(status)}.`)
    }
    super(message ?? defaultMessage(status), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HttpError'
    this.status = status
    this.code = options.code ?? defaultCode(status)
    this.expose = options.expose ?? status < 500
    this.headers = options.headers ?? {}
    this.details = options.details ?? {}
  }
}

/** `'Too Many Requests'` → `'too_many_requests'`: the code used when none is given. */
export function defaultCode(status: number): string {
  return defaultMessage(status)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
}

/** The reason phrase of `status` (RFC 9110), or a generic one. */
export function defaultMessage(status: number): string {
  return STATUS_PHRASES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error')
}

// Only the statuses this library or its users commonly answer with; `node:http` has the
// full table, but importing it here would tie this module to the HTTP/1 implementation.
const STATUS_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** A short, safe rendering of any value for error messages: `"1m" (string)`, `0 (number)`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value)} (string)`
  if (typeof value === 'function') return 'a function'
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (value instanceof RegExp) return `${String(value)} (RegExp)`
  if (typeof value === 'object') return `an object (${Object.keys(value).slice(0, 5).join(', ') || 'no keys'})`
  return `${String(value)} (${typeof value})`
}

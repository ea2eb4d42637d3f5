/**
 * mount: send a path prefix to a sub-stack with its own middleware, the way Express's
 * `app.use('/admin', adminApp)` or Go's `http.StripPrefix` do.
 *
 * - Matching is on the core's normal form of the path (`normalizePath`) and on a segment
 *   boundary: `/admin` matches `/admin`, `/admin/x`, `/ADMIN/x` (case-insensitive by
 *   default, like the core), `//admin/x`, `/%61dmin/x`, never `/administrator`.
 * - The sub-stack sees `req.url` without the prefix, always starting with `/`, query kept.
 *   A target with nothing to normalise keeps its own spelling after the prefix (a trailing
 *   slash, say). One that needed normalising (escapes, `..`, `//`, `\`) is passed on in its
 *   normal form, each segment percent-encoded again where needed: the sub-stack routes the
 *   same path the mount matched, never a different one.
 * - The original target goes to `originalUrlState` (the outermost mount's wins; read it with
 *   `getOriginalUrl`) and the prefixes mounted so far to {@link getMountPath}.
 * - `req.url` is not restored when the sub-stack returns: the mounted stack owns the request
 *   until its exchange ends (its streams and hooks may read `req.url` long after its handler
 *   returned). Layers outside the mount that report the URL when the exchange ends (an
 *   access log) read `originalUrlState.tryGet(req) ?? req.url`.
 * - The mounted handler owns the prefix: requests under it never come back to the outer
 *   stack, so it must answer 404 itself.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { Middleware, RawHandler } from '../../core/types.js'
import { defineMiddleware } from '../../core/define.js'
import { ConfigError } from '../../core/errors.js'
import { defineDefaults, expectBoolean, withDefaults } from '../../core/options.js'
import { normalizePath } from '../../core/path.js'
import { mountPathState, originalUrlState } from '../../core/shared-state.js'

/** Options for {@link mount}. */
export interface MountOptions {
  /** Match the prefix case-sensitively; only if every router in front is case-sensitive too. @default false */
  caseSensitive?: boolean
}

export const mountDefaults = defineDefaults<MountOptions>({ caseSensitive: false })

/** The prefixes `req` was mounted under, joined (`'/api/v2'`); throws, naming what to mount, outside any mount. */
export const getMountPath = (req: IncomingMessage): string => mountPathState.get(req)

/** The prefixes `req` was mounted under, or `undefined` outside any mount (`tryGetMountPath(req) ?? ''` for links). */
export const tryGetMountPath = (req: IncomingMessage): string | undefined => mountPathState.tryGet(req)

// RFC 3986 §3.3: characters a path segment may hold unescaped, besides unreserved ones;
// encodeURIComponent escapes them, so they are put back for a readable URL.
const SUB_DELIMS = /%(24|26|2B|2C|3B|3D|3A|40)/g
// The core's fast path: a target with none of these is already in normal form.
const NEEDS_NORMALISING = /[%\\]|\/\/|\/\.|[\x00-\x1f\x7f]/

/**
 * Send requests under `prefix` to `handler` (a composed sub-stack), with the prefix
 * stripped from `req.url`; others go on to the next layer.
 * @example
 * compose(errorBoundary(), mount('/admin', compose(jwtAuth(...), adminOnly)(adminRouter)))(publicRouter)
 */
export function mount(prefix: string, handler: RawHandler, options: MountOptions = {}): Middleware {
  const opts = withDefaults('mount', mountDefaults, options)
  const caseSensitive = expectBoolean('mount', 'caseSensitive', opts.caseSensitive)
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || /[?#*]/.test(prefix)) {
    throw new ConfigError(
      'mount',
      'prefix',
      'a path starting with "/", without query, fragment or wildcard',
      prefix,
      typeof prefix === 'string' && !prefix.startsWith('/') && !/[?#*]/.test(prefix) ? `Write "/${prefix}".` : '',
    )
  }
  const normal = normalizePath(prefix)
  if (normal === undefined || normal === '/' || normal !== prefix.replace(/\/$/, '')) {
    throw new ConfigError(
      'mount',
      'prefix',
      'a normalised path other than "/" (no "..", "//", escapes or trailing slash)',
      prefix,
      normal === '/' ? 'Mounting at "/" strips nothing: use the handler itself.' : normal ? `Write "${normal}".` : '',
    )
  }
  if (typeof handler !== 'function')
    throw new ConfigError('mount', 'handler', 'a handler (req, res) => ...; compose(...)(router) makes one', handler)
  const folded = caseSensitive ? normal : normal.toLowerCase()

  return defineMiddleware(
    { name: 'mount', detail: `${normal} → ${handler.name || 'handler'}` },
    (next) =>
      function mountHandler(req, res) {
        const url = req.url ?? '/'
        const rest = strip(url, folded, caseSensitive)
        if (rest === undefined) return next(req, res)
        if (!originalUrlState.has(req)) originalUrlState.set(req, url)
        mountPathState.set(req, (mountPathState.tryGet(req) ?? '') + normal)
        req.url = rest
        return handler(req, res)
      },
  )
}

/** The target without the prefix, or undefined when the prefix does not match. */
function strip(url: string, prefix: string, caseSensitive: boolean): string | undefined {
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q)
  if (!NEEDS_NORMALISING.test(path)) {
    // Already normal: compare and cut the target as sent, keeping its spelling.
    const head = path.slice(0, prefix.length)
    if ((caseSensitive ? head : head.toLowerCase()) !== prefix) return undefined
    if (path.length > prefix.length && path[prefix.length] !== '/') return undefined
    return (path.slice(prefix.length) || '/') + query
  }
  const normal = normalizePath(path)
  // Cannot be normalised: not ours; the outer stack answers it (and fails closed).
  if (normal === undefined) return undefined
  const head = normal.slice(0, prefix.length)
  if ((caseSensitive ? head : head.toLowerCase()) !== prefix) return undefined
  if (normal.length > prefix.length && normal[prefix.length] !== '/') return undefined
  const rest = normal.slice(prefix.length)
  return (rest === '' ? '/' : rest.split('/').map(encodeSegment).join('/')) + query
}

const encodeSegment = (segment: string): string =>
  encodeURIComponent(segment).replace(SUB_DELIMS, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))

/**
 * httpsRedirect(): send plain-http requests to the same URL over https. The scheme is
 * the client identity's, so behind a TLS-terminating proxy it is what proxyHeaders()
 * established from a trusted hop, never a client's own `X-Forwarded-Proto`.
 * @module
 */
import { clientIdentity } from '../../core/client.js'
import { defineMiddleware } from '../../core/define.js'
import { HttpError } from '../../core/errors.js'
import { formatHost, parseHost, redirectPath } from '../../core/host.js'
import { defineDefaults, expectInteger, expectOneOf, withDefaults } from '../../core/options.js'
import {
  AMBIGUOUS_PATH_ERROR,
  compilePathPatterns,
  expectAmbiguousPaths,
  matchablePath,
  type AmbiguousPaths,
  type PathPattern,
} from '../../core/path.js'
import { sendError } from '../../core/send-error.js'
import type { Middleware } from '../../core/types.js'

/** Options for {@link httpsRedirect}. */
export interface HttpsRedirectOptions {
  /**
   * Redirect status. 308 and 307 keep the method and body (a POST stays a POST); 301
   * lets clients turn a POST into a GET, so use it only for GET-only sites that need
   * ancient clients.
   * @default 308
   */
  status?: 308 | 307 | 301
  /**
   * Port of the https server. Any port in the request's host is replaced by it (the
   * http port is no use for TLS); 443 is left out of the URL.
   * @default 443
   */
  httpsPort?: number
  /**
   * Paths answered over http as they are: `'/health'`, `'/.well-known/acme-challenge/*'`,
   * anchored RegExps or predicates (see compilePathPatterns). Matched on
   * `matchablePath(req.url)`, case-insensitively: an ambiguous target is never exempt.
   * @default []
   */
  exemptPaths?: readonly PathPattern[]
  /**
   * Ambiguous request targets (`..`, `%2F`, `//`, `;`: see `matchablePath`): `'fail-closed'`
   * redirects them like any path that is not exempt; `'refuse'` answers them 400
   * `ambiguous_path`, over http and https alike.
   * @default 'fail-closed'
   */
  ambiguousPaths?: AmbiguousPaths
}

export const httpsRedirectDefaults = defineDefaults<HttpsRedirectOptions>({
  status: 308,
  httpsPort: 443,
  exemptPaths: Object.freeze([]),
  ambiguousPaths: 'fail-closed',
})

const BAD_HOST = new HttpError(400, 'Invalid Host header', { code: 'host_invalid' })

/**
 * Redirect http to https with the same host, path and query. Mount it inside
 * proxyHeaders() and trustedHost(): the first makes the scheme trustworthy behind a
 * proxy, the second makes sure the redirect points at a host you serve.
 * @example
 * compose(proxyHeaders({ trustedProxies: ['loopback'] }), trustedHost({ allowedHosts: ['example.com'] }),
 *   httpsRedirect({ exemptPaths: ['/health'] }))
 */
export function httpsRedirect(options: HttpsRedirectOptions = {}): Middleware {
  const opts = withDefaults('httpsRedirect', httpsRedirectDefaults, options)
  const status = expectOneOf('httpsRedirect', 'status', opts.status, [308, 307, 301] as const)
  const httpsPort = expectInteger('httpsRedirect', 'httpsPort', opts.httpsPort, 1, 65535)
  const exempt =
    opts.exemptPaths.length === 0 ? undefined : compilePathPatterns('httpsRedirect', 'exemptPaths', opts.exemptPaths)
  const refuseAmbiguous = expectAmbiguousPaths('httpsRedirect', opts.ambiguousPaths)

  return defineMiddleware(
    {
      name: 'httpsRedirect',
      detail: `${status}${httpsPort === 443 ? '' : ` to port ${httpsPort}`}${opts.exemptPaths.length ? `, ${opts.exemptPaths.length} exempt path(s)` : ''}`,
      security: true,
    },
    (next) =>
      function httpsRedirectHandler(req, res) {
        if (refuseAmbiguous && matchablePath(req.url) === undefined)
          return void sendError(req, res, AMBIGUOUS_PATH_ERROR)
        const identity = clientIdentity(req)
        if (identity.scheme === 'https') return next(req, res)
        if (exempt !== undefined) {
          // An ambiguous target, or one that cannot be normalised, is not exempt: fail towards https.
          const path = matchablePath(req.url)
          if (path !== undefined && exempt(path)) return next(req, res)
        }
        const host = identity.host === undefined ? undefined : parseHost(identity.host)
        if (host === undefined) return void sendError(req, res, BAD_HOST)
        // The location is always absolute, with a host that parsed and a path that starts
        // with exactly one slash: `//evil.example` or `/\evil.example` stay on this host.
        res.statusCode = status
        res.setHeader('location', `https://${formatHost({ ...host, port: httpsPort }, 443)}${redirectPath(req.url)}`)
        res.setHeader('content-length', '0')
        res.end()
      },
  )
}

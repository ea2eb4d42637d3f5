/**
 * What an authenticating layer (jwtAuth, apiKey) lets through without credentials: the
 * preflights cors() validated, which never carry them, and the paths configured as public.
 * An `OPTIONS` that only looks like a preflight is not exempt: any client can send one, and
 * cors() may not have answered it (a repeated Origin, cors() not mounted, or passed on by
 * `preflightContinue` after failing validation). Public paths are matched on
 * `matchablePath`: an ambiguous target (`/admin/..%2fpublic`, which routers serve as
 * `/admin/:page`) is never public.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { HttpError } from './errors.js'
import {
  AMBIGUOUS_PATH_ERROR,
  type AmbiguousPaths,
  compilePathPatterns,
  matchablePath,
  type PathPattern,
} from './path.js'
import { corsPreflightState } from './shared-state.js'

/** Whether `req` passes without credentials (true), must present them (false), or is refused. */
export type Exemption = (req: IncomingMessage) => boolean | HttpError

const isValidatedPreflight: Exemption = (req) => corsPreflightState.has(req)

export function compileExemption(
  middleware: string,
  publicPaths: readonly PathPattern[],
  caseSensitive: boolean,
  refuseAmbiguous: boolean,
): Exemption {
  if (publicPaths.length === 0 && !refuseAmbiguous) return isValidatedPreflight
  const isPublic = compilePathPatterns(middleware, 'publicPaths', publicPaths, { caseSensitive })
  return (req) => {
    const path = matchablePath(req.url)
    if (path === undefined && refuseAmbiguous) return AMBIGUOUS_PATH_ERROR
    if (corsPreflightState.has(req)) return true
    // An ambiguous target, or one that cannot be normalised, is not public: fail closed.
    return path !== undefined && isPublic(path)
  }
}

/**
 * The options of an authenticating layer that decide without credentials (for `anyOf()`,
 * which refuses layers carrying them: its own options decide for the whole group).
 */
export function exemptionsOf(
  publicPaths: readonly PathPattern[],
  optional: boolean,
  ambiguousPaths: AmbiguousPaths,
): string[] {
  const set: string[] = []
  if (publicPaths.length > 0) set.push('publicPaths')
  if (optional) set.push('optional')
  if (ambiguousPaths === 'refuse') set.push('ambiguousPaths')
  return set
}

/**
 * What an authenticating layer (jwtAuth, apiKey) lets through without credentials: the
 * preflights cors() validated, which never carry them, and the paths configured as public.
 * An `OPTIONS` that only looks like a preflight is not exempt: any client can send one, and
 * cors() may not have answered it (a repeated Origin, cors() not mounted, or passed on by
 * `preflightContinue` after failing validation).
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { compilePathPatterns, normalizePath, type PathPattern } from '../core/path.js'
import { corsPreflightState } from '../core/shared-state.js'

/** Whether `req` passes without credentials. */
export type Exemption = (req: IncomingMessage) => boolean

const isValidatedPreflight: Exemption = (req) => corsPreflightState.has(req)

export function compileExemption(middleware: string, publicPaths: readonly PathPattern[], caseSensitive: boolean): Exemption {
  if (publicPaths.length === 0) return isValidatedPreflight
  const isPublic = compilePathPatterns(middleware, 'publicPaths', publicPaths, { caseSensitive })
  return (req) => {
    if (corsPreflightState.has(req)) return true
    const path = normalizePath(req.url)
    // A path that cannot be normalised is not public: fail closed.
    return path !== undefined && isPublic(path)
  }
}

/**
 * What an authenticating layer (jwtAuth, apiKey) lets through without credentials: CORS
 * preflights, which never carry them, and the paths configured as public.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { isCorsPreflight } from '../core/headers.js'
import { compilePathPatterns, normalizePath, type PathPattern } from '../core/path.js'

/** Whether `req` passes without credentials. */
export type Exemption = (req: IncomingMessage) => boolean

export function compileExemption(middleware: string, publicPaths: readonly PathPattern[], caseSensitive: boolean): Exemption {
  if (publicPaths.length === 0) return isCorsPreflight
  const isPublic = compilePathPatterns(middleware, 'publicPaths', publicPaths, { caseSensitive })
  return (req) => {
    if (isCorsPreflight(req)) return true
    const path = normalizePath(req.url)
    // A path that cannot be normalised is not public: fail closed.
    return path !== undefined && isPublic(path)
  }
}

/**
 * Where errors go that must not be thrown into a request: failures of response-end
 * listeners, log sinks, teardown hooks. They become process warnings, which a process
 * can observe with `process.on('warning')` and which never crash it.
 * @module
 */

/** Report `err`, raised while doing `what`, without throwing. */
export function reportError(what: string, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err))
  try {
    process.emitWarning(`${what}: ${error.message}`, { type: 'HttpOnionError', code: 'HTTP_ONION_REPORTED', detail: error.stack ?? '' })
  } catch {
    // emitWarning throws only when --throw-deprecation-like flags turn warnings into
    // exceptions; a reporter must still never throw.
  }
}

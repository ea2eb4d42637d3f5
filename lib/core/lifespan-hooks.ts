/**
 * The lifespan's start-up and shutdown hooks: each runs alone, in the order given, with a
 * time limit and an `AbortSignal` that aborts when the limit passes. Split from lifespan.ts
 * because the contract (order, limits, the error naming the hook) stands on its own.
 * @module
 */
import { ConfigError } from './errors.js'
import { expectFunction, expectInteger, expectString } from './options.js'

/** A hook: given a signal that aborts at its time limit; a returned promise is awaited. */
export type LifespanHookFunction = (signal: AbortSignal) => unknown

/** A hook with a name for errors and logs, and its own time limit. */
export interface LifespanHookObject {
  /** Names the hook in errors and reports (`'open database pool'`). */
  readonly name: string
  readonly run: LifespanHookFunction
  /** This hook's time limit, in ms. @default the lifespan's `hookTimeoutMs` */
  readonly timeoutMs?: number
}

/** A start-up or shutdown hook: a function (named by its `name`), or an object naming it. */
export type LifespanHook = LifespanHookFunction | LifespanHookObject

/** Timer functions, injectable for tests: Node's `setTimeout(callback, ms, arg)` signature. */
export interface LifespanTimers {
  setTimeout(callback: (arg: never) => void, ms: number, arg: never): unknown
  clearTimeout(handle: unknown): void
}

/** Which list a hook is in. */
export type LifespanPhase = 'start-up' | 'shutdown'

/**
 * A hook failed, threw, rejected, or outlived its time limit. `start()` rejects with it; a
 * shutdown reports it and goes on. The message names the hook and its place in the list:
 * `lifespan(): start-up hook "open pool" (2 of 3) failed: connect ECONNREFUSED`.
 */
export class LifespanHookError extends Error {
  readonly code = 'ERR_LIFESPAN_HOOK'
  /** The hook's name. */
  readonly hook: string
  readonly phase: LifespanPhase
  /** True when the hook did not settle within its time limit. */
  readonly timedOut: boolean

  constructor(phase: LifespanPhase, hook: string, position: string, why: string, timedOut: boolean, cause?: unknown) {
    super(`lifespan(): ${phase} hook "${hook}" (${position}) ${why}`, cause === undefined ? undefined : { cause })
    this.name = 'LifespanHookError'
    this.hook = hook
    this.phase = phase
    this.timedOut = timedOut
  }
}

/** A hook as validated at construction. */
export interface CompiledHook {
  readonly name: string
  readonly run: LifespanHookFunction
  readonly timeoutMs: number
}

/** Validate the hooks of option `option` (`'startup'`, `'shutdown'`). */
export function compileHooks(option: string, hooks: unknown, defaultTimeoutMs: number): readonly CompiledHook[] {
  if (!Array.isArray(hooks))
    throw new ConfigError('lifespan', option, 'an array of hooks', hooks, 'Use [] for none, or [openPool, warmCache].')
  return Object.freeze(
    hooks.map((hook: unknown, i): CompiledHook => {
      const at = `${option}[${i}]`
      if (typeof hook === 'function')
        return { name: hook.name || at, run: hook as LifespanHookFunction, timeoutMs: defaultTimeoutMs }
      if (hook === null || typeof hook !== 'object' || Array.isArray(hook))
        throw new ConfigError(
          'lifespan',
          at,
          'a function (signal) => unknown, or { name, run, timeoutMs? }',
          hook,
          'Give an async function, e.g. async () => pool.connect().',
        )
      const { name, run, timeoutMs, ...rest } = hook as Partial<LifespanHookObject>
      const unknown = Object.keys(rest)[0]
      if (unknown !== undefined)
        throw new ConfigError('lifespan', `${at}.${unknown}`, 'absent (a hook has name, run and timeoutMs)', unknown)
      return {
        name: expectString('lifespan', `${at}.name`, name),
        run: expectFunction<LifespanHookFunction>('lifespan', `${at}.run`, run),
        timeoutMs:
          timeoutMs === undefined
            ? defaultTimeoutMs
            : expectInteger('lifespan', `${at}.timeoutMs`, timeoutMs, 1, 2_147_483_647, 'It is in ms.'),
      }
    }),
  )
}

/**
 * Run `hook`; resolves with undefined when it settled in time, or with the error saying how it
 * failed. Never rejects. A hook that outlives its limit is left running (JavaScript cannot
 * stop it), its signal aborted with the error; whatever it does later is ignored.
 */
export function runHook(
  hook: CompiledHook,
  phase: LifespanPhase,
  position: string,
  timers: LifespanTimers,
): Promise<LifespanHookError | undefined> {
  const controller = new AbortController()
  return new Promise((settle) => {
    let done = false
    const timer = timers.setTimeout(
      (() => {
        if (done) return
        done = true
        const error = new LifespanHookError(phase, hook.name, position, `timed out after ${hook.timeoutMs} ms`, true)
        controller.abort(error)
        settle(error)
      }) as (arg: never) => void,
      hook.timeoutMs,
      undefined as never,
    )
    const finish = (error: LifespanHookError | undefined): void => {
      if (done) return
      done = true
      timers.clearTimeout(timer)
      settle(error)
    }
    // A hook that throws synchronously fails like one that rejects.
    new Promise<unknown>((ok) => ok(hook.run(controller.signal))).then(
      () => finish(undefined),
      (err: unknown) =>
        finish(
          new LifespanHookError(
            phase,
            hook.name,
            position,
            `failed: ${err instanceof Error ? err.message : String(err)}`,
            false,
            err,
          ),
        ),
    )
  })
}

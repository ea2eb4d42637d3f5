/**
 * The lifespan scope: start-up and shutdown hooks, liveness and readiness answers, and a
 * graceful drain. Every Node team hand-rolls shutdown (fastify#1714, express#4789,
 * http-terminator) and most get it subtly wrong: readiness flips late or never, kept-alive
 * sockets keep bringing requests after SIGTERM, in-flight work is cut mid-response, and the
 * last requests' log lines are lost.
 *
 * `lifespan()` returns a Middleware to mount outermost (it counts requests exactly and
 * gives each one an abort signal) with the methods that drive the process through its life:
 * `start()` runs the start-up hooks, `attach(server)` or `serve(server, port)` bind a server,
 * `shutdown()` drains. The drain, in order:
 *
 * 1. readiness answers 503 from the first moment, so load balancers stop routing here;
 * 2. after `closeDelayMs`, the listener closes (`server.close()`), idle kept-alive
 *    connections close at once and each busy one when its response is done (every response
 *    from now on carries `Connection: close`); HTTP/2 sessions get GOAWAY; upgraded
 *    connections (`trackUpgraded`) are asked to go away;
 * 3. requests still arriving on open connections are served normally, with `Connection:
 *    close`, for `gracePeriodMs`; after it they get 503 with `Retry-After`;
 * 4. the exact in-flight count must reach zero within `drainTimeoutMs`; then stragglers
 *    are aborted through their request signal, responses not started get a 503, streams
 *    (Server-Sent Events, chunked bodies) are ended cleanly, and upgraded connections are
 *    destroyed; `abortTimeoutMs` later, whatever is left is destroyed;
 * 5. buffered log lines are flushed (`lib/core/flush.ts`), the shutdown hooks run, and the
 *    result says whether the drain was clean.
 * @module
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import type { Http2Session } from 'node:http2'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { detachResponse } from './detach-response.js'
import { ConfigError, HttpError } from './errors.js'
import { flushAll } from './flush.js'
import { compileHooks, runHook, type LifespanHook, type LifespanTimers } from './lifespan-hooks.js'
import { defineMiddleware } from './define.js'
import { defineDefaults, expectArray, expectFunction, expectInteger, withDefaults } from './options.js'
import { type Logger, reportErrorTo } from './report.js'
import { onResponseEnd, type ResponseEndInfo } from './response-end.js'
import { sendError } from './send-error.js'
import { requestAbortState, type RequestAbortSource } from './shared-state.js'
import { isThenable } from './thenable.js'
import type { Middleware, RawHandler } from './types.js'
import { upgradedConnections, type UpgradedConnection } from './upgraded.js'

export {
  LifespanHookError,
  type LifespanHook,
  type LifespanHookFunction,
  type LifespanHookObject,
  type LifespanPhase,
  type LifespanTimers,
} from './lifespan-hooks.js'

/** Options for {@link lifespan}. Every duration is in milliseconds. */
export interface LifespanOptions {
  /** Run by `start()`, one at a time, in order; the first that fails stops start-up. @default [] */
  startup?: readonly LifespanHook[]
  /** Run at the end of `shutdown()`, one at a time, in order; all run, failures are reported. @default [] */
  shutdown?: readonly LifespanHook[]
  /** Time limit of each hook that sets none of its own. @default 10_000 */
  hookTimeoutMs?: number
  /**
   * Time between readiness turning 503 and the listener closing, during which new
   * connections are still served. Behind a load balancer or in Kubernetes, set it a little
   * above the readiness probe's period, so no new connection is refused before the
   * balancer has seen the 503.
   * @default 0
   */
  closeDelayMs?: number
  /**
   * After the listener closed, how long requests arriving on connections still open are
   * served normally (with `Connection: close`); later ones get 503 with `Retry-After`.
   * @default 5_000
   */
  gracePeriodMs?: number
  /** After the listener closed, how long in-flight requests have to finish before they are aborted. @default 20_000 */
  drainTimeoutMs?: number
  /** After stragglers were aborted, how long their ended responses have to flush before their connections are destroyed. @default 2_000 */
  abortTimeoutMs?: number
  /** `Retry-After` of the 503s (not ready, shutting down), in seconds. @default 5 */
  retryAfterSeconds?: number
  /**
   * Signals that start a graceful shutdown and then end the process with `exit(code)`.
   * Opt-in: give `['SIGTERM', 'SIGINT']`. A second signal during the drain exits at once
   * with code 1. Without signals, nothing exits: call `shutdown()` yourself.
   * @default []
   */
  signals?: readonly NodeJS.Signals[]
  /** Ends the process after a signal-driven shutdown: 0 for a clean drain, 1 otherwise. @default process.exit */
  exit?: (code: number) => void
  /** Where failed shutdown hooks and other reports go. @default process warnings (reportError) */
  logger?: Logger
  /** Timer functions; inject fakes in tests. @default Node's setTimeout and clearTimeout */
  timers?: LifespanTimers
}

const nodeTimers: LifespanTimers = Object.freeze({
  setTimeout: (callback: (arg: never) => void, ms: number, arg: never) => setTimeout(callback, ms, arg),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
})

export const lifespanDefaults = defineDefaults<LifespanOptions, 'logger'>({
  startup: Object.freeze([]) as readonly LifespanHook[],
  shutdown: Object.freeze([]) as readonly LifespanHook[],
  hookTimeoutMs: 10_000,
  closeDelayMs: 0,
  gracePeriodMs: 5_000,
  drainTimeoutMs: 20_000,
  abortTimeoutMs: 2_000,
  retryAfterSeconds: 5,
  signals: Object.freeze([]) as readonly NodeJS.Signals[],
  exit: (code: number) => process.exit(code),
  logger: undefined,
  timers: nodeTimers,
})

/** Where a lifespan is in its life. */
export type LifespanState = 'created' | 'starting' | 'ready' | 'failed' | 'draining' | 'stopped'

/** What `shutdown()` resolves with. */
export interface ShutdownResult {
  /** True when every request finished on its own and every shutdown hook succeeded. */
  readonly clean: boolean
  /** 0 when clean, 1 otherwise: the process exit code in the signal-driven mode. */
  readonly exitCode: 0 | 1
  /** Requests and upgraded connections still open at the drain deadline, aborted. */
  readonly aborted: number
  /** The shutdown hooks that failed or timed out, by name. */
  readonly failedHooks: readonly string[]
}

/** A server the lifespan can drain: `http.Server`, `https.Server`, or an HTTP/2 server. */
export interface LifespanServer {
  close(callback?: (err?: Error) => void): unknown
  listen(...args: never[]): unknown
  on(event: string, listener: (...args: never[]) => void): unknown
  readonly listening: boolean
}

/** What `lifespan()` returns: the middleware to mount outermost, and the life of the process. */
export interface Lifespan extends Middleware {
  /** Where the lifespan is now. */
  readonly state: LifespanState
  /** True from the end of the start-up hooks until shutdown begins. */
  readonly ready: boolean
  /** Requests in flight through this middleware, exactly. */
  readonly inFlight: number
  /**
   * Run the start-up hooks, once: later calls return the same promise. Rejects with a
   * {@link LifespanHookError} naming the hook that failed.
   */
  start(): Promise<void>
  /** Drain `server` at shutdown. Call before `listen()` for HTTP/2 (sessions are seen as they open). */
  attach<S extends LifespanServer>(server: S): S
  /** `attach(server)`, `start()` (or its promise, if already called), then `listen(port, host)`; resolves with the listening server. */
  serve<S extends LifespanServer>(server: S, port: number, host?: string): Promise<S>
  /** Drain and stop (see the module comment); the same promise for every call. */
  shutdown(): Promise<ShutdownResult>
  /** Liveness: 200 `{"status":"alive"}` while the process answers at all. Mount it at a path of your choice. */
  readonly liveness: RawHandler
  /** Readiness: 200 `{"status":"ready"}` when ready, else 503 `not_ready` with `Retry-After`. */
  readonly readiness: RawHandler
}

/**
 * The reason of a request signal aborted because the drain deadline passed (`kind`
 * `'shutdown'`), named `AbortError` as the DOM names it. Its code is the one timeout()'s
 * `RequestAbortError` has, so a handler treats both alike.
 */
export class ShutdownAbortError extends Error {
  readonly code = 'ERR_REQUEST_ABORTED'
  readonly kind = 'shutdown'
  constructor(message: string) {
    super(message)
    this.name = 'AbortError'
  }
}

/** One request in flight: its own abort source (read by getRequestSignal without timeout()). */
class Exchange implements RequestAbortSource {
  controller: AbortController | undefined = undefined
  reason: Error | undefined = undefined
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly owner: Life

  constructor(req: IncomingMessage, res: ServerResponse, owner: Life) {
    this.req = req
    this.res = res
    this.owner = owner
  }
}

/** One HTTP/2 server's open sessions. */
type Sessions = Set<Http2Session>

/** The mutable life of one lifespan; a class so the request path reads plain fields. */
class Life {
  state: LifespanState = 'created'
  /** True once the listener closed and the grace period ran out: late requests get 503. */
  refusing = false
  /** True once the listener closed: each response that ends may leave an idle connection to close. */
  closing = false
  readonly exchanges = new Set<Exchange>()
  readonly servers = new Map<LifespanServer, Sessions | undefined>()
  /** Resolves the wait for the drain, when the last request or upgraded connection ends. */
  drained: (() => void) | undefined = undefined
  idleSweepScheduled = false
  upgradedOpen = 0
  readonly logger: Logger | undefined

  constructor(logger: Logger | undefined) {
    this.logger = logger
  }
}

const NAME = 'lifespan'

/**
 * Start-up and shutdown hooks, liveness and readiness, and a graceful drain. Mount the
 * returned middleware outermost: a request that does not pass through it is neither counted
 * nor drained.
 * @example
 * const life = lifespan({ startup: [openPool], shutdown: [closePool], signals: ['SIGTERM', 'SIGINT'] })
 * const app = compose(life, errorBoundary(), requestId(), accessLog())(router)
 * await life.serve(serverTimeouts(createServer(app)), 3000)
 */
export function lifespan(options: LifespanOptions = {}): Lifespan {
  const opts = withDefaults(NAME, lifespanDefaults, options)
  const hookTimeout = expectInteger(NAME, 'hookTimeoutMs', opts.hookTimeoutMs, 1, 2_147_483_647, 'It is in ms.')
  const startup = compileHooks('startup', opts.startup, hookTimeout)
  const shutdownHooks = compileHooks('shutdown', opts.shutdown, hookTimeout)
  const closeDelay = expectInteger(NAME, 'closeDelayMs', opts.closeDelayMs, 0, 600_000, 'It is in ms.')
  const drainTimeout = expectInteger(NAME, 'drainTimeoutMs', opts.drainTimeoutMs, 0, 3_600_000, 'It is in ms.')
  const grace = expectInteger(NAME, 'gracePeriodMs', opts.gracePeriodMs, 0, 3_600_000, 'It is in ms.')
  if (grace > drainTimeout)
    throw new ConfigError(
      NAME,
      'gracePeriodMs',
      `at most drainTimeoutMs (${drainTimeout})`,
      grace,
      'Requests served during the grace period must be able to finish before the drain deadline.',
    )
  const abortTimeout = expectInteger(NAME, 'abortTimeoutMs', opts.abortTimeoutMs, 0, 600_000, 'It is in ms.')
  const retryAfter = expectInteger(NAME, 'retryAfterSeconds', opts.retryAfterSeconds, 0, 86_400)
  const signals = expectArray(NAME, 'signals', opts.signals, (signal, i) => {
    if (typeof signal !== 'string' || !/^SIG[A-Z0-9]+$/.test(signal) || signal === 'SIGKILL' || signal === 'SIGSTOP')
      throw new ConfigError(
        NAME,
        `signals[${i}]`,
        'a signal name that can be caught',
        signal,
        "Use ['SIGTERM', 'SIGINT'].",
      )
    return signal as NodeJS.Signals
  })
  const exit = expectFunction<(code: number) => void>(NAME, 'exit', opts.exit)
  const logger = opts.logger
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.error !== 'function'))
    throw new ConfigError(NAME, 'logger', "a logger with error() and warn() (pino's or console)", logger)
  const timers = opts.timers
  if (typeof timers !== 'object' || timers === null)
    throw new ConfigError(NAME, 'timers', 'an object { setTimeout, clearTimeout }', timers)
  expectFunction(NAME, 'timers.setTimeout', timers.setTimeout)
  expectFunction(NAME, 'timers.clearTimeout', timers.clearTimeout)

  const notReady = new HttpError(503, 'The server is not ready', {
    code: 'not_ready',
    headers: { 'retry-after': String(retryAfter) },
  })
  // RFC 9113 §8.2.2: HTTP/2 forbids connection-specific headers; GOAWAY says it instead.
  const shuttingDown1 = new HttpError(503, 'The server is shutting down', {
    code: 'shutting_down',
    headers: { 'retry-after': String(retryAfter), connection: 'close' },
  })
  const shuttingDown2 = new HttpError(503, 'The server is shutting down', {
    code: 'shutting_down',
    headers: { 'retry-after': String(retryAfter) },
  })

  const life = new Life(logger)
  let started: Promise<void> | undefined
  let stopping: Promise<ShutdownResult> | undefined
  let listeningForSignals = false

  const onSignal = (): void => {
    if (stopping !== undefined) {
      // A second signal: the operator wants out now.
      exit(1)
      return
    }
    shutdown().then(
      (result) => exit(result.exitCode),
      (err: unknown) => {
        reportErrorTo(logger, 'lifespan() shutdown', err)
        exit(1)
      },
    )
  }
  const listenForSignals = (): void => {
    if (listeningForSignals || signals.length === 0) return
    listeningForSignals = true
    for (const signal of signals) process.on(signal, onSignal)
  }
  const stopListening = (): void => {
    if (!listeningForSignals) return
    listeningForSignals = false
    for (const signal of signals) process.off(signal, onSignal)
  }

  const later = (ms: number): { promise: Promise<void>; cancel: () => void } => {
    let handle: unknown
    const promise = new Promise<void>((ok) => {
      handle = timers.setTimeout(ok as (arg: never) => void, ms, undefined as never)
    })
    return { promise, cancel: () => timers.clearTimeout(handle) }
  }

  function start(): Promise<void> {
    if (started !== undefined) return started
    listenForSignals()
    life.state = 'starting'
    started = (async () => {
      for (let i = 0; i < startup.length; i++) {
        const error = await runHook(startup[i]!, 'start-up', `${i + 1} of ${startup.length}`, timers)
        if (error !== undefined) {
          if (life.state === 'starting') life.state = 'failed'
          throw error
        }
        // shutdown() called meanwhile: the process is going down, not up.
        if (life.state !== 'starting') break
      }
      if (life.state !== 'starting')
        throw new Error('lifespan(): shutdown began during start-up; the server was not started.')
      life.state = 'ready'
    })()
    return started
  }

  function attach<S extends LifespanServer>(server: S): S {
    if (server === null || typeof server !== 'object' || typeof server.close !== 'function')
      throw new ConfigError(NAME, 'server', 'a node:http, node:https or node:http2 server', server)
    if (stopping !== undefined)
      throw new Error('lifespan(): attach() after shutdown() began; attach servers before shutting down.')
    if (life.servers.has(server)) return server
    const http1 = typeof (server as unknown as HttpServer).closeIdleConnections === 'function'
    let sessions: Sessions | undefined
    if (!http1) {
      const open: Sessions = new Set()
      sessions = open
      server.on('session', ((session: Http2Session) => {
        open.add(session)
        session.once('close', () => open.delete(session))
      }) as (...args: never[]) => void)
    }
    life.servers.set(server, sessions)
    listenForSignals()
    return server
  }

  async function serve<S extends LifespanServer>(server: S, port: number, host?: string): Promise<S> {
    attach(server)
    await start()
    await new Promise<void>((ok, fail) => {
      const onError = (err: Error): void => fail(err)
      ;(server as unknown as HttpServer).once('error', onError)
      const listening = (): void => {
        ;(server as unknown as HttpServer).off('error', onError)
        ok()
      }
      if (host === undefined) (server as unknown as HttpServer).listen(port, listening)
      else (server as unknown as HttpServer).listen(port, host, listening)
    })
    return server
  }

  function shutdown(): Promise<ShutdownResult> {
    stopping ??= drain()
    return stopping
  }

  async function drain(): Promise<ShutdownResult> {
    life.state = 'draining'
    // Every response not yet started is the last on its connection.
    for (const exchange of life.exchanges) closeAfter(exchange.req, exchange.res)
    if (closeDelay > 0) await later(closeDelay).promise

    life.closing = true
    const closed: Promise<void>[] = []
    for (const [server, sessions] of life.servers) {
      closed.push(new Promise<void>((ok) => server.close(() => ok())))
      if (sessions === undefined) (server as unknown as HttpServer).closeIdleConnections()
      // GOAWAY: the client opens no new stream; the open ones finish.
      else for (const session of sessions) if (!session.closed) session.close()
    }
    const upgraded = goAway(life)

    const graceOver = later(grace)
    void graceOver.promise.then(() => {
      life.refusing = true
    })
    const deadline = later(drainTimeout)
    const empty = new Promise<void>((ok) => {
      life.drained = ok
      checkDrained(life)
    })
    await Promise.race([empty, deadline.promise])
    deadline.cancel()

    let aborted = 0
    if (life.exchanges.size > 0 || life.upgradedOpen > 0) {
      aborted = life.exchanges.size + life.upgradedOpen
      await abortStragglers(life, upgraded, drainTimeout, shuttingDown1, shuttingDown2)
      const flushed = later(abortTimeout)
      await Promise.race([empty, flushed.promise])
      flushed.cancel()
    }
    // Whatever is left holds no request of ours (a head still arriving) or would not flush.
    for (const exchange of life.exchanges) exchange.res.destroy()
    for (const [server, sessions] of life.servers) {
      if (sessions === undefined) (server as unknown as HttpServer).closeAllConnections()
      else for (const session of sessions) session.destroy()
    }
    graceOver.cancel()
    life.refusing = true
    const allClosed = later(abortTimeout)
    await Promise.race([Promise.all(closed), allClosed.promise])
    allClosed.cancel()

    await flushAll()
    const failedHooks: string[] = []
    for (let i = 0; i < shutdownHooks.length; i++) {
      const hook = shutdownHooks[i]!
      const error = await runHook(hook, 'shutdown', `${i + 1} of ${shutdownHooks.length}`, timers)
      if (error !== undefined) {
        failedHooks.push(hook.name)
        reportErrorTo(logger, 'lifespan() shutdown', error)
      }
    }
    life.state = 'stopped'
    stopListening()
    const clean = aborted === 0 && failedHooks.length === 0
    return Object.freeze({ clean, exitCode: clean ? 0 : 1, aborted, failedHooks: Object.freeze(failedHooks) })
  }

  const middleware = defineMiddleware(
    { name: NAME, detail: `drain ${drainTimeout} ms, grace ${grace} ms` },
    (next) =>
      function lifespanHandler(req, res) {
        const state = life.state
        const exchange = new Exchange(req, res, life)
        // Refusals count too: the drain waits for their 503 to be out, queued behind a pipelined response or not.
        life.exchanges.add(exchange)
        onResponseEnd(res, endExchange, exchange)
        if (state === 'draining' || state === 'stopped') {
          if (life.refusing || state === 'stopped')
            return void sendError(req, res, req.httpVersionMajor < 2 ? shuttingDown1 : shuttingDown2)
          closeAfter(req, res)
        }
        // Read by getRequestSignal() and by layers that wait, unless timeout() sets its own further in.
        requestAbortState.set(req, exchange)
        const result = next(req, res)
        if (isThenable(result)) return Promise.resolve(result).catch(swallowShutdownAbort)
        return result
      },
  )

  const readiness: RawHandler = function readinessHandler(req, res) {
    if (life.state !== 'ready') return void sendError(req, res, notReady)
    answerJson(res, READY_BODY)
  }
  const liveness: RawHandler = function livenessHandler(_req, res) {
    answerJson(res, ALIVE_BODY)
  }

  return Object.defineProperties(
    Object.assign(middleware, { start, attach, serve, shutdown, liveness, readiness }) as unknown as Lifespan,
    {
      state: { get: () => life.state, enumerable: true },
      ready: { get: () => life.state === 'ready', enumerable: true },
      inFlight: { get: () => life.exchanges.size, enumerable: true },
    },
  )
}

const READY_BODY = '{"status":"ready"}'
const ALIVE_BODY = '{"status":"alive"}'

function answerJson(res: ServerResponse, body: string): void {
  res.statusCode = 200
  res.setHeader('content-type', 'application/json; charset=utf-8')
  // A cached probe answer would hide the flip.
  res.setHeader('cache-control', 'no-store')
  res.end(body)
}

/** HTTP/1: this response is the last on its connection; Node closes it once the response is out. */
function closeAfter(req: IncomingMessage, res: ServerResponse): void {
  if (req.httpVersionMajor < 2 && !res.headersSent) res.setHeader('connection', 'close')
}

function endExchange(_info: ResponseEndInfo, _res: ServerResponse, exchange: Exchange | undefined): void {
  const life = exchange!.owner
  life.exchanges.delete(exchange!)
  if (!life.closing) return
  // A response sent with keep-alive before the drain began leaves its connection idle once it
  // is out: close it then. Node marks the connection idle after this listener, hence the turn.
  if (!life.idleSweepScheduled) {
    life.idleSweepScheduled = true
    setImmediate(sweepIdle, life)
  }
  checkDrained(life)
}

function sweepIdle(life: Life): void {
  life.idleSweepScheduled = false
  for (const [server, sessions] of life.servers)
    if (sessions === undefined) (server as unknown as HttpServer).closeIdleConnections()
}

function checkDrained(life: Life): void {
  if (life.drained !== undefined && life.exchanges.size === 0 && life.upgradedOpen === 0) {
    const ok = life.drained
    life.drained = undefined
    ok()
  }
}

/** Ask every upgraded connection of the attached servers to go away; they count until closed. */
function goAway(life: Life): UpgradedConnection[] {
  const all: UpgradedConnection[] = []
  for (const server of life.servers.keys())
    for (const connection of upgradedConnections(server)) {
      all.push(connection)
      life.upgradedOpen++
      connection.socket.once('close', () => {
        life.upgradedOpen--
        checkDrained(life)
      })
      try {
        connection.goAway()
      } catch (err) {
        reportErrorTo(life.logger, 'lifespan(): goAway() of an upgraded connection', err)
        connection.socket.destroy()
      }
    }
  return all
}

/**
 * The drain deadline passed: abort every straggler's signal, give handlers a turn to react,
 * then answer for those that did not. A response not started gets the 503; a started one (a
 * stream) is ended, its chunked body closed with its last chunk rather than cut. Either is
 * then detached, so the handler's later writes go nowhere. Upgraded connections are destroyed.
 */
async function abortStragglers(
  life: Life,
  upgraded: readonly UpgradedConnection[],
  drainTimeout: number,
  error1: HttpError,
  error2: HttpError,
): Promise<void> {
  const reason = new ShutdownAbortError(
    `the server is shutting down and the drain deadline of ${drainTimeout} ms passed`,
  )
  for (const exchange of life.exchanges) abortExchange(exchange, reason)
  for (const connection of upgraded) if (!connection.socket.destroyed) connection.socket.destroy()
  await nextTurn()
  for (const { req, res } of life.exchanges) {
    if (res.writableEnded || res.destroyed) continue
    try {
      if (!res.headersSent) {
        if (sendError(req, res, req.httpVersionMajor < 2 ? error1 : error2)) detachResponse(res)
      } else {
        res.end()
        detachResponse(res)
      }
    } catch (err) {
      reportErrorTo(life.logger, 'lifespan(): could not end a request at the drain deadline', err)
      res.destroy()
    }
  }
}

function abortExchange(exchange: Exchange, reason: ShutdownAbortError): void {
  // timeout() further in holds the handler's signal: abort that one (the innermost), and ours.
  const inner = requestAbortState.tryGet(exchange.req)
  for (const source of inner === undefined || inner === exchange ? [exchange] : [inner, exchange]) {
    if (source.reason !== undefined) continue
    source.reason = reason
    source.controller?.abort(reason)
  }
}

/** A handler rejecting with the shutdown's abort reason is the signal working, not a failure. */
function swallowShutdownAbort(err: unknown): void {
  if (err instanceof ShutdownAbortError || (err instanceof Error && err.cause instanceof ShutdownAbortError)) return
  throw err
}

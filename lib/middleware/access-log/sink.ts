/**
 * Where access-log lines go: a Writable (a file, stdout, a socket) or a function. Writing
 * never blocks, never throws into the request, and never grows without bound: while a
 * Writable applies backpressure, lines wait in a bounded queue; beyond it they are dropped
 * and counted, and the count rides on the next line that is accepted.
 *
 * A sink is flushable (`lib/core/flush.ts`): a graceful shutdown writes the lines of the
 * current turn at once and waits until the stream has taken every line, so the last
 * requests' lines are not lost when the process exits.
 * @module
 */
import type { Writable } from 'node:stream'
import { type Flushable, registerFlushable } from '../../core/flush.js'
import { type Logger, reportErrorTo } from '../../core/report.js'

// Read by no one: it keeps the character read in flattened() from being optimised away.
let _firstCharacterRead = 0

/**
 * `text`, made flat now. V8 keeps a string built with `+` as a tree of its parts (some thirty
 * per access-log line) until something reads its characters, and reading one makes it flat.
 * Lines wait up to a turn for their write, and by then the tree's nodes have left the cache:
 * flattening them there cost more than building them. Measured on the production stack's
 * 1 KB route: in one process, rounds with and without this alternating (8 processes of
 * 8 rounds of 30,000 requests), 0.966× the CPU per request (±0.005), 0.7 µs less; in perf,
 * string flattening 901 → 564 samples over 100,000 requests, 140 of them now here. Building
 * lines with an array join instead left the flattening as it was and added 270 samples of join.
 */
function flattened(text: string): string {
  _firstCharacterRead = text.charCodeAt(0)
  return text
}

/** A function sink: gets the JSON line (no trailing newline) and the object it encodes. */
export type AccessLogSinkFunction<E> = (line: string, entry: E) => void

/** One sink per accessLog() instance. */
export class LineSink<E> implements Flushable {
  readonly #stream: Writable | undefined
  readonly #fn: AccessLogSinkFunction<E> | undefined
  readonly #maxQueued: number
  readonly #queue: string[] = []
  #dropped = 0
  #waiting = false
  #listening = false
  #broken = false
  #reported = false
  #scheduled = false
  /** Writes handed to the stream whose callback has not run yet. */
  #unconfirmed = 0
  /** Resolvers of flush() calls, waiting for the queue to empty and every write to be confirmed. */
  #flushed: Array<() => void> = []
  // The logger of the stack whose line was written last: a failure of the sink is the
  // stack's to report, and the sink outlives any one request.
  #logger: Logger | undefined
  readonly #onDrain = (): void => this.#drain()
  readonly #onTurnEnd = (): void => {
    this.#scheduled = false
    this.#flush()
  }
  readonly #onError = (err: unknown): void => {
    // The stream is unusable from now on ('drain' will not come): drop instead of queueing.
    this.#broken = true
    this.#queue.length = 0
    this.#report(err)
    this.#settleFlushes()
  }
  readonly #onWritten = (): void => {
    this.#unconfirmed--
    this.#settleFlushes()
  }

  constructor(target: Writable | AccessLogSinkFunction<E>, maxQueued: number) {
    if (typeof target === 'function') this.#fn = target
    else this.#stream = target
    this.#maxQueued = maxQueued
    // Function sinks hold nothing: only a stream's lines wait.
    if (this.#stream !== undefined) registerFlushable(this)
  }

  /**
   * Write the queued lines now (not at the end of the turn) and resolve once the stream has
   * confirmed every write, after a 'drain' if it pushed back. Resolves at once for a function
   * sink, and as soon as the stream fails or is destroyed. Never rejects.
   */
  flush(): Promise<void> {
    const stream = this.#stream
    if (stream === undefined) return Promise.resolve()
    this.#flush()
    if (this.#settled()) return Promise.resolve()
    return new Promise((ok) => {
      this.#flushed.push(ok)
      // A stream destroyed meanwhile confirms nothing more.
      stream.once('close', () => this.#settleFlushes())
    })
  }

  #settled(): boolean {
    const stream = this.#stream!
    return (
      this.#broken ||
      stream.destroyed ||
      (this.#unconfirmed === 0 && (this.#queue.length === 0 || stream.writableEnded))
    )
  }

  #settleFlushes(): void {
    if (this.#flushed.length === 0 || !this.#settled()) return
    for (const ok of this.#flushed.splice(0)) ok()
  }

  /**
   * True when a line written now would be dropped: the stream pushes back and the queue is
   * full, or the stream is closed. Asked before a line is built, so an overloaded sink costs
   * no formatting.
   */
  get saturated(): boolean {
    const stream = this.#stream
    if (stream === undefined) return false
    return (
      this.#broken ||
      stream.destroyed ||
      stream.writableEnded ||
      (this.#waiting && this.#queue.length >= this.#maxQueued)
    )
  }

  /** Count one line as dropped. */
  drop(): void {
    this.#dropped++
  }

  /** Lines dropped since the last call, to report in the line about to be written. */
  takeDropped(): number {
    const dropped = this.#dropped
    this.#dropped = 0
    return dropped
  }

  /**
   * Write one line that reports `carried` earlier drops (from `takeDropped`); the caller
   * checked `saturated` first.
   */
  write(line: string, entry: E, carried: number, logger?: Logger): void {
    this.#logger = logger
    const fn = this.#fn
    if (fn !== undefined) {
      try {
        fn(line, entry)
      } catch (err) {
        // This line is lost, and with it the count it carried: both go to the next one.
        this.#dropped += carried + 1
        this.#report(err)
      }
      return
    }
    const stream = this.#stream!
    if (!this.#listening) {
      // Without an 'error' listener a failing stream would crash the process.
      this.#listening = true
      stream.on('error', this.#onError)
    }
    this.#queue.push(flattened(line + '\n'))
    if (this.#waiting) return
    // Lines of one event-loop turn go out in one write: a stream write per line costs more
    // than formatting the line. A full batch goes at once rather than waiting for the turn.
    if (this.#queue.length >= this.#maxQueued) this.#flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#onTurnEnd)
    }
  }

  #send(data: string): void {
    let accepted: boolean
    try {
      this.#unconfirmed++
      accepted = this.#stream!.write(data, this.#onWritten)
    } catch (err) {
      this.#unconfirmed--
      this.#onError(err)
      return
    }
    if (!accepted) {
      this.#waiting = true
      this.#stream!.once('drain', this.#onDrain)
    }
  }

  #drain(): void {
    this.#waiting = false
    this.#flush()
  }

  #flush(): void {
    if (this.#waiting || this.#broken || this.#queue.length === 0) return
    // One write for everything queued: the queue is bounded, and so is this string.
    const data = this.#queue.length === 1 ? this.#queue[0]! : this.#queue.join('')
    this.#queue.length = 0
    this.#send(data)
  }

  // One report per sink: a failing sink would otherwise warn once per request.
  #report(err: unknown): void {
    if (this.#reported) return
    this.#reported = true
    reportErrorTo(this.#logger, 'accessLog() sink', err)
  }
}

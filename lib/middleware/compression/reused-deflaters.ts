/**
 * Reused zlib encoders for bodies compressed whole (gzip and deflate).
 *
 * Why: `zlib.gzip(body, cb)` builds a Transform stream and a native encoder, allocates and
 * clears the encoder's state (window, hash chains, pending buffer: up to 256 KiB) and tears it
 * all down again, for every body. For a small body that machinery costs more than the
 * compression: 2.4 KB of JSON took 45–50 CPU µs through `zlib.gzip` and 18 through a reused
 * encoder, 50 bodies in flight on one pinned core (the deflate itself, as `gzipSync`, ~17).
 *
 * How: each encoder is a zlib stream whose default flush is `Z_FINISH`, so every write is a
 * complete gzip member (or zlib stream) in one trip to the thread pool, and `reset()`
 * (deflateReset; Node documents it for the deflate and inflate codings) readies it for the
 * next body. Nothing here is a `*Sync` call: the deflate runs on libuv's thread pool as
 * `zlib.gzip`'s does.
 *
 * Bounds: at most {@link BODIES_PER_THREAD} bodies per thread-pool thread are in zlib at once;
 * more wait here in order. Bounding them bounds the encoders alive (and their memory) by that
 * number per length tier, instead of one per body in flight. The bound is not one body per
 * thread: a thread that finishes a body must then find the next one already in libuv's queue.
 * With one per thread, each thread went to sleep after every body until the event loop had
 * taken the result and handed it the next, and on a pinned core those wake-ups cost more than
 * the queue saves: on the 64 KB route, one run, 3 processes each, 406 CPU µs/req at one body
 * per thread, 370 at four, 355 at eight; 6.3 context switches per request at one, 4.5 at four.
 * Idle encoders are closed after {@link IDLE_MS} without use.
 *
 * Async context: the encoders are made in the async context of the middleware's
 * construction, not of the request that happened to need one first (a pooled stream would
 * otherwise keep that request's AsyncLocalStorage store alive), and each body's callback runs
 * in the context of the request that asked.
 * @module
 */
import { AsyncResource } from 'node:async_hooks'
import * as zlib from 'node:zlib'

/** What a body's compression calls back with: encoders.ts's `EncodeWhole` callback (no import: that file imports this one). */
type Callback = (err: Error | null, result: Buffer) => void
// @types/node declares reset() on Deflate only; Node's Gzip has it too (both are deflate).
type ZlibStream = (zlib.Gzip | zlib.Deflate) & zlib.ZlibReset

/** Encoders idle this long are closed (checked every IDLE_MS, so closed within twice that). */
export const IDLE_MS = 10_000

/**
 * Bodies in zlib at once per thread of libuv's pool: enough that every thread finds its next
 * body queued when it finishes one (see the module's notes on bounds).
 */
export const BODIES_PER_THREAD = 4

/** libuv's thread pool size: what Node reads from UV_THREADPOOL_SIZE at start-up (default 4, at most 1024). */
export function threadPoolSize(value: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  const threads = Number.parseInt(value ?? '', 10)
  return Number.isInteger(threads) && threads > 0 ? Math.min(threads, 1024) : 4
}

/** A body waiting for an encoder, with the async context of the request it belongs to. */
class Job extends AsyncResource {
  readonly body: Buffer
  readonly tier: number
  readonly done: Callback
  /** The body queued after this one. */
  next: Job | undefined = undefined

  constructor(body: Buffer, tier: number, done: Callback) {
    super('http-onion.compression.whole')
    this.body = body
    this.tier = tier
    this.done = done
  }
}

type Release = (deflater: Deflater, reusable: boolean) => void

/** One reusable encoder: its stream, the output of the body it is on, and that body's job. */
class Deflater {
  readonly stream: ZlibStream
  readonly tier: number
  readonly #release: Release
  /** The output of the body in hand; one array for the encoder's life, emptied after each body. */
  readonly #chunks: Buffer[] = []
  #job: Job | undefined = undefined
  #used = false
  #error: Error | null = null
  readonly #written: (err?: Error | null) => void

  constructor(release: Release, stream: ZlibStream, tier: number) {
    this.#release = release
    this.stream = stream
    this.tier = tier
    this.#written = (err) => this.#finish(err ?? null)
    // Flowing: each chunk is handed over as zlib pushes it, before the write's callback.
    stream.on('data', (chunk: Buffer) => this.#chunks.push(chunk))
    // Kept for the write's callback, which a destroyed stream calls without it; without a
    // listener the error would also be thrown.
    stream.on('error', (err: Error) => {
      this.#error = err
    })
  }

  run(job: Job): void {
    this.#job = job
    if (this.#used) this.stream.reset()
    this.#used = true
    this.stream.write(job.body, this.#written)
  }

  #finish(writeError: Error | null): void {
    const job = this.#job!
    const chunks = this.#chunks
    this.#job = undefined
    // A stream destroyed meanwhile (by an error or by hand) calls back without an error: its
    // output is then incomplete, and it cannot be used again.
    const err =
      writeError ?? this.#error ?? (this.stream.destroyed ? new Error('the compression stream was destroyed') : null)
    const result = err !== null ? undefined : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    chunks.length = 0
    this.#release(this, err === null)
    job.runInAsyncScope(job.done, null, err, result)
  }
}

/**
 * The reused encoders of one coding, one set per length tier, with at most `limit` bodies in
 * zlib at once. `options[tier]` are the zlib options of that tier.
 */
export class ReusedDeflaters {
  readonly #make: (options: zlib.ZlibOptions) => zlib.Gzip | zlib.Deflate
  readonly #options: readonly zlib.ZlibOptions[]
  readonly #limit: number
  readonly #idle: Deflater[][]
  /** Bodies waiting for an encoder, first to last. */
  #first: Job | undefined = undefined
  #last: Job | undefined = undefined
  #waiting = 0
  #busy = 0
  #usedSinceSweep = false
  #sweepTimer: NodeJS.Timeout | undefined = undefined
  readonly #sweep = () => this.#sweepIdle()
  readonly #release: Release = (deflater, reusable) => this.#finished(deflater, reusable)
  /** The async context encoders are made in: the middleware's construction. */
  readonly #home = new AsyncResource('http-onion.compression.encoders')
  readonly #idleMs: number

  constructor(
    make: (options: zlib.ZlibOptions) => zlib.Gzip | zlib.Deflate,
    options: readonly zlib.ZlibOptions[],
    limit: number = threadPoolSize() * BODIES_PER_THREAD,
    idleMs: number = IDLE_MS,
  ) {
    this.#make = make
    this.#options = options.map((o) => Object.freeze({ ...o, flush: zlib.constants.Z_FINISH }))
    this.#limit = limit
    this.#idleMs = idleMs
    this.#idle = options.map(() => [])
  }

  /** Compress `body` with the options of `tier`; `done` runs in the caller's async context. */
  encode(body: Buffer, tier: number, done: Callback): void {
    const job = new Job(body, tier, done)
    if (this.#busy < this.#limit) {
      this.#start(job)
      return
    }
    if (this.#last === undefined) this.#first = job
    else this.#last.next = job
    this.#last = job
    this.#waiting++
  }

  /** Encoders open and idle, per tier (for tests and diagnostics). */
  idleCounts(): number[] {
    return this.#idle.map((list) => list.length)
  }

  /** Bodies in zlib now, and bodies waiting for an encoder. */
  get busy(): number {
    return this.#busy
  }
  get waiting(): number {
    return this.#waiting
  }

  /** An encoder is done with its body: keep it for the next (unless it failed) and start a waiting body. */
  #finished(deflater: Deflater, reusable: boolean): void {
    this.#busy--
    if (reusable) this.#idle[deflater.tier]!.push(deflater)
    else deflater.stream.close()
    const next = this.#first
    if (next !== undefined) {
      this.#first = next.next
      if (this.#first === undefined) this.#last = undefined
      next.next = undefined
      this.#waiting--
      this.#start(next)
    }
    if (this.#sweepTimer === undefined) {
      this.#sweepTimer = setTimeout(this.#sweep, this.#idleMs)
      this.#sweepTimer.unref()
    }
  }

  #start(job: Job): void {
    this.#busy++
    this.#usedSinceSweep = true
    const idle = this.#idle[job.tier]!
    let deflater = idle.pop()
    // One destroyed while idle (nothing here does that, but its owner might) cannot be reset.
    while (deflater?.stream.destroyed) deflater = idle.pop()
    deflater ??= this.#home.runInAsyncScope(this.#newDeflater, this, job.tier)
    deflater.run(job)
  }

  #newDeflater(tier: number): Deflater {
    return new Deflater(this.#release, this.#make(this.#options[tier]!) as ZlibStream, tier)
  }

  /** Close the idle encoders if none was used since the last sweep; look again later otherwise. */
  #sweepIdle(): void {
    this.#sweepTimer = undefined
    if (this.#usedSinceSweep) {
      this.#usedSinceSweep = false
      this.#sweepTimer = setTimeout(this.#sweep, this.#idleMs)
      this.#sweepTimer.unref()
      return
    }
    for (const list of this.#idle) {
      for (const deflater of list) deflater.stream.close()
      list.length = 0
    }
  }
}

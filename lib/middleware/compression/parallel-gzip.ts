/**
 * Parallel gzip, as pigz does it, on Node's asynchronous zlib only: one large stream
 * compressed on several libuv threads at once instead of one.
 *
 * The input is cut into blocks: 32 KiB first, then 128 KiB, doubling with each full block up to
 * 512 KiB (by default), because every block costs CPU of its own. Each block is compressed by its own
 * raw-deflate stream on the thread pool, primed with the last 32 KiB of input before it as
 * its dictionary, so matches reaching back into the previous block are still found and
 * the output stays within ~1% of one stream's size. Every block but the last ends with a
 * sync flush (an empty stored block, so it stops on a byte boundary with no final bit);
 * the last one finishes the deflate stream. Concatenated in order they are one deflate
 * stream, framed as one gzip member (RFC 1952): a 10-byte header, the blocks, the CRC-32
 * of the whole input and its length mod 2^32 (ISIZE).
 *
 * Bounds: at most `concurrency` blocks are in flight (compressing, or done and waiting for
 * an earlier one); while that many are, the write callback waits, so `write()` returns
 * false and backpressure reaches the writer. Memory per stream is therefore about
 * `concurrency` × (largest block + its output) plus the 32 KiB of history, and each block's zlib
 * state, freed as soon as the block is done. `flush()` ends the current block early;
 * `destroy()` destroys every block's zlib stream at once.
 * @module
 */
import { randomInt } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Transform, type TransformCallback } from 'node:stream'
import * as zlib from 'node:zlib'
import { defineDefaults, expectInteger, withNestedDefaults } from '../../core/options.js'

/** Options of compression()'s `parallelGzip`. */
export interface ParallelGzipOptions {
  /**
   * Bodies of known length below this many bytes keep the one-stream encoder; bodies of
   * unknown length (streams) always go parallel. Lower it for latency on large bodies.
   * @default 524288 (512 KiB, four blocks)
   */
  minLength?: number
  /**
   * Input bytes of the blocks after the first (which is 32 KiB, for the time to first byte),
   * 32 KiB to 16 MiB. Each full block doubles the next one's size, up to `maxBlockSize`.
   * Larger blocks cost memory; smaller ones more per-block work and ~5 bytes of sync flush each.
   * @default 131072 (128 KiB, as pigz)
   */
  blockSize?: number
  /**
   * The size blocks grow to, `blockSize` to 16 MiB. Every block costs CPU of its own (a zlib
   * state made and primed with its dictionary, a stream's bookkeeping): measured on 2 cores,
   * 512 KiB blocks took ~15% less CPU than 128 KiB ones for the same 200 MiB. A stream starts
   * small, so a short body or a slow writer does not wait for a large block, and grows once it
   * has filled blocks. Set it to `blockSize` for blocks of one size.
   * @default the larger of 524288 (512 KiB) and `blockSize`
   */
  maxBlockSize?: number
  /**
   * Blocks in flight at once per stream, 2 to 64. Two more than the cores keep every core's
   * thread fed while the event loop hands out the next block or waits on an earlier one
   * (measured on 2 cores: 1.26× the one-stream speed with 2, 1.43× with 3, 1.63× with 4).
   * More than libuv's thread pool (`UV_THREADPOOL_SIZE`) only queues.
   * @default the smaller of UV_THREADPOOL_SIZE (4 unless set) and os.availableParallelism() + 2
   */
  concurrency?: number
}

/** libuv's thread pool size, as libuv reads it (4 unless the variable says otherwise, at most 1024). */
const threadPoolSize = Math.min(1024, Math.max(1, Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4))

/** The defaults of `parallelGzip`; `concurrency` depends on the machine. */
export const parallelGzipDefaults = defineDefaults<ParallelGzipOptions>({
  minLength: 512 * 1024,
  blockSize: 128 * 1024,
  maxBlockSize: 512 * 1024,
  concurrency: defaultConcurrency(threadPoolSize, availableParallelism()),
})

/**
 * The default `concurrency`: two blocks more than the cores, so a thread that finishes a block
 * finds the next one queued instead of waiting for the event loop, and a block done before an
 * earlier one does not idle its core; at most the thread pool. Exported for its test.
 */
export function defaultConcurrency(poolSize: number, cores: number): number {
  return Math.min(poolSize, cores + 2)
}

/** Makes the parallel encoder of one response. */
export type MakeParallelGzip = () => ParallelGzip

/** What compression() keeps of `parallelGzip`: when to use it and how to make it. */
export interface ParallelGzipPlan {
  readonly minLength: number
  readonly make: MakeParallelGzip
}

/**
 * Validate compression()'s `parallelGzip` option. Undefined when it is off: `false`, or a
 * machine with one core (or a concurrency of 1 by default), where it cannot pay.
 */
export function parallelGzipPlan(
  value: unknown,
  level: number,
  jitter: number,
  cores = availableParallelism(),
): ParallelGzipPlan | undefined {
  if (value === false) return undefined
  // Whether the caller set this option, rather than it coming from the defaults.
  const given = (name: keyof ParallelGzipOptions): boolean =>
    typeof value === 'object' && value !== null && (value as ParallelGzipOptions)[name] !== undefined
  const opts = withNestedDefaults(
    'compression',
    'parallelGzip',
    parallelGzipDefaults,
    value === true ? undefined : (value as ParallelGzipOptions | undefined),
    'true, false or an object of options { minLength, blockSize, maxBlockSize, concurrency }',
    'Use false to keep one zlib stream per response.',
  )
  const minLength = expectInteger('compression', 'parallelGzip.minLength', opts.minLength, 0, Number.MAX_SAFE_INTEGER)
  const blockSize = expectInteger(
    'compression',
    'parallelGzip.blockSize',
    opts.blockSize,
    WINDOW,
    16 * 1024 * 1024,
    'Below 32 KiB a block is smaller than its dictionary; 128 KiB (the default) is what pigz uses.',
  )
  // Unset, it follows a blockSize set above its default, so setting blockSize alone never throws.
  const maxBlockSize = expectInteger(
    'compression',
    'parallelGzip.maxBlockSize',
    given('maxBlockSize') ? opts.maxBlockSize : Math.max(opts.maxBlockSize as number, blockSize),
    blockSize,
    16 * 1024 * 1024,
    `Blocks grow from blockSize (${blockSize}) to maxBlockSize; set it to blockSize for blocks of one size.`,
  )
  // An explicit concurrency of 1 is refused; a default that comes out as 1 turns it off.
  const concurrency = expectInteger(
    'compression',
    'parallelGzip.concurrency',
    opts.concurrency,
    given('concurrency') ? 2 : 1,
    64,
    'One block at a time is the one-stream encoder with extra framing: use parallelGzip: false for that.',
  )
  if (cores < 2 || concurrency < 2) return undefined
  const settings: ParallelGzipSettings = { level, blockSize, maxBlockSize, concurrency }
  return Object.freeze({
    minLength,
    make:
      jitter > 0
        ? () => new ParallelGzip({ ...settings, padding: randomInt(1, jitter + 1) })
        : () => new ParallelGzip(settings),
  })
}

/** How a {@link ParallelGzip} compresses. */
export interface ParallelGzipSettings {
  /** zlib level, 1 to 9. */
  readonly level: number
  /** Input bytes of the blocks after the first (which is at most 32 KiB). */
  readonly blockSize: number
  /** What blocks grow to, doubling with each full one; `blockSize` when absent (one size). */
  readonly maxBlockSize?: number
  /** Blocks in flight at most. */
  readonly concurrency: number
  /** Bytes of padding in the header's comment field (BREACH jitter, RFC 1952 §2.3.1 FCOMMENT); 0 for none. */
  readonly padding?: number
}

/** deflate's window: the most history a block can refer back to. */
const WINDOW = 32 * 1024
/** Input bytes of the first block at most. */
const FIRST_BLOCK = 32 * 1024
/** Output buffer of each block's deflate stream: most blocks come out in one piece. */
const BLOCK_CHUNK = 64 * 1024

// `zlib.crc32` arrived in Node 20.15 and 22.2; older Nodes get the table-driven fallback.
type Crc32 = (data: Uint8Array, value?: number) => number
const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32
/** CRC-32 (ISO-HDLC, as gzip uses) of `data`, continuing from `crc`. */
export const crc32: Crc32 = typeof nativeCrc32 === 'function' ? nativeCrc32 : tableCrc32

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c
})

/** The unique chunk that `flush()` writes, so a flush takes its place in the write order. */
const FLUSH = Buffer.alloc(0)

/** One block: its deflate stream while it runs, then its output until its turn to go out. */
class Block {
  stream: zlib.DeflateRaw | undefined
  readonly output: Buffer[] = []
  done = false

  constructor(stream: zlib.DeflateRaw) {
    this.stream = stream
  }
}

/**
 * A gzip encoder that deflates blocks concurrently: a Transform from the input to one gzip
 * member any gunzip decodes. Use it like `zlib.createGzip()`; `flush()` pushes out what
 * was written so far.
 */
export class ParallelGzip extends Transform {
  readonly #level: number
  readonly #blockSize: number
  readonly #maxBlockSize: number
  /** Input bytes of the block being filled: 32 KiB first, then `blockSize`, doubling with each full block. */
  #size: number
  readonly #concurrency: number
  readonly #padding: number
  /** The block being filled (a buffer of our own: the writer may reuse its buffers once called back). */
  #current: Buffer | undefined
  #filled = 0
  /** What is left of the chunk being written, not yet copied into a block; its callback waits until it is. */
  #rest: Buffer | undefined
  /** The last (up to) 32 KiB of input handed to zlib: the next block's dictionary. */
  #history: Buffer | undefined
  /** Blocks handed to zlib whose output has not gone out yet, oldest first. */
  readonly #queue: Block[] = []
  #crc = 0
  /** Input length mod 2^32. */
  #isize = 0
  #headerSent = false
  /** A block has gone out: from then on `concurrency` blocks may run, before it only one. */
  #started = false
  /** The write callback held while `concurrency` blocks are in flight. */
  #waiting: TransformCallback | undefined
  /** The end's callback, held until the last block is out. */
  #ending: TransformCallback | undefined
  /** A flush came: the pending bytes go out as a block of their own once there is room. */
  #flushAsked = false
  /** The last block (Z_FINISH) was handed to zlib. */
  #finishing = false

  constructor(settings: ParallelGzipSettings) {
    // Room for a block's output or so before the reader is behind.
    super({ readableHighWaterMark: BLOCK_CHUNK })
    this.#level = settings.level
    this.#blockSize = settings.blockSize
    this.#maxBlockSize = Math.max(settings.maxBlockSize ?? settings.blockSize, settings.blockSize)
    // The first block is small, so the first bytes reach the client as soon as with one
    // stream (time to first byte).
    this.#size = Math.min(settings.blockSize, FIRST_BLOCK)
    this.#concurrency = settings.concurrency
    this.#padding = settings.padding ?? 0
  }

  /** Blocks in flight now: compressing, or compressed and waiting for an earlier one. */
  get blocksInFlight(): number {
    return this.#queue.length
  }

  /** End the current block now, so everything written so far reaches the reader. */
  flush(callback?: () => void): void {
    if (this.writableEnded) {
      if (callback) process.nextTick(callback)
      return
    }
    this.write(FLUSH, callback)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk === FLUSH) {
      this.#flushAsked = this.#filled > 0
    } else {
      this.#crc = crc32(chunk, this.#crc)
      // ISIZE is the length mod 2^32 (RFC 1952 §2.3.1); `>>> 0` keeps it there.
      this.#isize = (this.#isize + chunk.length) >>> 0
      this.#rest = chunk
      // The header goes out with the first input, as zlib's own gzip sends it, so the client
      // sees the first byte before the first block is compressed.
      if (!this.#headerSent && chunk.length > 0) this.#sendHeader()
    }
    this.#pump()
    // Called back once the chunk is all copied (and a flush handed to zlib): a writer whose
    // blocks are all in flight waits here, and a large write is taken a block at a time.
    if (this.#rest !== undefined || this.#flushAsked) this.#waiting = callback
    else callback()
  }

  override _read(size: number): void {
    super._read(size) // Transform's: calls back a write it held while the reader was behind
    // The reader asks for more and will not ask again before a push: start a block now.
    this.#advance(true)
  }

  override _flush(callback: TransformCallback): void {
    this.#ending = callback
    this.#pump()
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    for (const block of this.#queue) {
      block.stream?.destroy()
      block.stream = undefined
    }
    this.#queue.length = 0
    this.#current = this.#rest = this.#history = undefined
    this.#waiting = this.#ending = undefined
    callback(err)
  }

  /**
   * Fill blocks from the chunk being written and hand them to zlib while fewer than
   * `concurrency` are in flight; then the block a flush asked for, or at the end the last.
   */
  #pump(readerAsked = false): void {
    for (;;) {
      const size = this.#size
      if (this.#filled === size) {
        if (!this.#room(readerAsked)) return
        this.#dispatch(this.#cut(), false)
        // A full block: the next one may be larger. Only full ones grow it, so a stream cut
        // by flushes (server-sent events) keeps allocating small blocks.
        this.#size = size < this.#blockSize ? this.#blockSize : Math.min(size * 2, this.#maxBlockSize)
        continue
      }
      const rest = this.#rest
      if (rest === undefined) break
      const n = Math.min(rest.length, size - this.#filled)
      this.#current ??= Buffer.allocUnsafe(size)
      rest.copy(this.#current, this.#filled, 0, n)
      this.#filled += n
      this.#rest = n === rest.length ? undefined : rest.subarray(n)
    }
    if (!this.#room(readerAsked)) return
    if (this.#ending !== undefined) {
      if (!this.#finishing) {
        this.#finishing = true
        this.#dispatch(this.#cut(), true)
      }
    } else if (this.#flushAsked) {
      this.#flushAsked = false
      if (this.#filled > 0) this.#dispatch(this.#cut(), false)
      // After the first block, flushed or full, blocks are blockSize at least.
      if (this.#size < this.#blockSize) this.#size = this.#blockSize
    }
  }

  /**
   * Whether another block may start: fewer than `concurrency` in flight, and the reader
   * keeping up (what was pushed and not read stays under the high-water mark), unless the
   * reader just asked for more (`_read`, which Node calls once until the next push).
   */
  #room(readerAsked: boolean): boolean {
    // Until the first block is out it runs alone: blocks started beside it would share the
    // cores with it and delay the first byte (time to first byte), for ~1 ms of throughput.
    const limit = this.#started ? this.#concurrency : 1
    return this.#queue.length < limit && (readerAsked || this.readableLength < this.readableHighWaterMark)
  }

  /** The filled part of the current block; the next write starts a new one. */
  #cut(): Buffer {
    const block = this.#current?.subarray(0, this.#filled) ?? Buffer.alloc(0)
    this.#current = undefined
    this.#filled = 0
    return block
  }

  /** Hand `input` to a deflate stream of its own on the thread pool. */
  #dispatch(input: Buffer, last: boolean): void {
    const { Z_SYNC_FLUSH, Z_FINISH } = zlib.constants
    const stream = zlib.createDeflateRaw({
      level: this.#level,
      chunkSize: BLOCK_CHUNK,
      // The one-shot API's option: how end() finishes. A sync flush ends on a byte
      // boundary without the final bit, so the next block's deflate data can follow.
      finishFlush: last ? Z_FINISH : Z_SYNC_FLUSH,
      ...(this.#history ? { dictionary: this.#history } : {}),
    })
    // Node sets a zlib stream up lazily, on the thread-pool thread of its first write; glibc
    // then serves that thread's allocations (the deflate state, ~270 KiB) from an arena of its
    // own, and four threads keep four arenas' worth of memory. reset() sets it up here, on
    // the event loop (its dictionary included), so the state comes from the main arena:
    // measured over 200 MiB, RSS growth went from ~9 MiB above the one-stream layer's to
    // about the same.
    stream.reset()
    const block = new Block(stream)
    this.#queue.push(block)
    stream.on('data', (out: Buffer) => block.output.push(out))
    stream.once('end', () => {
      block.done = true
      block.stream = undefined
      this.#drainQueue()
    })
    stream.once('error', (err: Error) => this.destroy(err))
    stream.end(input)
    this.#history = nextHistory(this.#history, input)
  }

  /** Push out the finished blocks at the head of the queue, in order, then release what waits on them. */
  #drainQueue(): void {
    if (this.destroyed) return
    const queue = this.#queue
    while (queue.length > 0 && queue[0]!.done) {
      const block = queue.shift()!
      this.#started = true
      if (!this.#headerSent) this.#sendHeader()
      for (const out of block.output) this.push(out)
    }
    this.#advance()
  }

  #sendHeader(): void {
    this.#headerSent = true
    this.push(gzipHeader(this.#level, this.#padding))
  }

  /** Start what there is room for; then end the member, or call back the writer that waits. */
  #advance(readerAsked = false): void {
    if (this.destroyed) return
    this.#pump(readerAsked)
    const queue = this.#queue
    if (queue.length === 0 && this.#finishing && this.#ending) {
      const trailer = Buffer.allocUnsafe(8)
      trailer.writeUInt32LE(this.#crc >>> 0, 0)
      trailer.writeUInt32LE(this.#isize, 4)
      this.push(trailer)
      const ending = this.#ending
      this.#ending = undefined
      ending()
      return
    }
    const waiting = this.#waiting
    if (waiting !== undefined && this.#rest === undefined && !this.#flushAsked) {
      this.#waiting = undefined
      waiting()
    }
  }
}

/** The last up to 32 KiB of `history` followed by `input`. */
function nextHistory(history: Buffer | undefined, input: Buffer): Buffer | undefined {
  if (input.length >= WINDOW) return input.subarray(input.length - WINDOW)
  if (input.length === 0) return history
  const joined = history ? Buffer.concat([history, input]) : input
  return joined.length > WINDOW ? joined.subarray(joined.length - WINDOW) : joined
}

// RFC 1952 §2.3: ID1 ID2 CM(8 = deflate) FLG MTIME(4, 0 = none) XFL OS(255 = unknown).
// XFL says 2 at level 9 and 4 at level 1, as zlib writes it. With padding, FLG has FCOMMENT
// and a comment of padding - 1 dashes and its terminating zero follows.
function gzipHeader(level: number, padding: number): Buffer {
  const header = Buffer.alloc(10 + padding, 0x2d)
  header.set([0x1f, 0x8b, 8, padding > 0 ? 0x10 : 0, 0, 0, 0, 0, level === 9 ? 2 : level === 1 ? 4 : 0, 255])
  if (padding > 0) header[9 + padding] = 0
  return header
}

/** Byte-wise table CRC-32, for Nodes without `zlib.crc32`: slower, but run as data passes. Exported for its test. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  let crc = ~value
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

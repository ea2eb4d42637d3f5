/**
 * The encoders behind `compression()`: Node's asynchronous zlib streams (never a `*Sync`
 * call), configured once per middleware, plus the BREACH length padding.
 *
 * Sizing: when the body's length is known, the window and the size hint are cut to fit
 * it. A 1 KiB body needs no 32 KiB window; smaller windows mean less memory to allocate
 * and clear per response, which is most of the cost of compressing a small body, and the
 * output is as small (a window larger than the input adds nothing).
 *
 * Padding (`jitter`): 1 to n bytes that every decoder skips, chosen at random per
 * response. gzip carries them as the header's comment (RFC 1952 §2.3.1, `FCOMMENT`), as
 * Go's gzhttp does; brotli as a metadata meta-block (RFC 7932 §9.2) placed right after
 * the stream header, which an initial flush leaves on a byte boundary. deflate (RFC 1950)
 * has no field to carry padding, and zstd is left out, so both are off while padding is on.
 * @module
 */
import { randomInt } from 'node:crypto'
import type { Duplex } from 'node:stream'
import * as zlib from 'node:zlib'
import type { Encoding } from './negotiation.js'
import { ReusedDeflaters } from './reused-deflaters.js'

/** How the encoders compress. */
export interface EncoderSettings {
  readonly brotliQuality: number
  readonly gzipLevel: number
  readonly zstdLevel: number
  /** Largest padding in bytes; 0 for none. */
  readonly jitter: number
}

/** Makes the encoder of one response. */
export type MakeEncoder = (length: number | undefined, flushEveryWrite: boolean) => Duplex

/** Compresses a whole body in one asynchronous call (zlib's `gzip`, `brotliCompress` …, never the `*Sync` ones). */
export type EncodeWhole = (body: Buffer, done: (err: Error | null, result: Buffer) => void) => void

/** What `res.flush()` asks of each encoder: a sync flush, which keeps the dictionary (Z_FULL_FLUSH would reset it). */
export const flushKinds: Readonly<Record<Encoding, number>> = Object.freeze({
  br: zlib.constants.BROTLI_OPERATION_FLUSH,
  gzip: zlib.constants.Z_SYNC_FLUSH,
  deflate: zlib.constants.Z_SYNC_FLUSH,
  zstd: (zlib.constants as Record<string, number>).ZSTD_e_flush ?? 1,
})

// zstd arrived in Node 23.8 and 22.15 (still experimental there); Node 20 has none.
type ZstdFactory = (options: object) => Duplex
const createZstdCompress = (zlib as unknown as { createZstdCompress?: ZstdFactory }).createZstdCompress

/** Whether the running Node can produce zstd, detected once at start-up. */
export const zstdSupported: boolean = typeof createZstdCompress === 'function'

/** Codings that can carry the BREACH padding. */
export const paddableEncodings: readonly Encoding[] = Object.freeze(['br', 'gzip'])

// Length tiers: a known body of at most `limit` bytes gets a window of 2^bits bytes, and
// zlib's memLevel bits - 6 (at most 8, its default). memLevel sizes the hash table and the
// symbol buffer (2^(memLevel + 6) symbols): 4 and 6 keep one block for any body of the tier,
// and the output of sample JSON, HTML and random text up to the tier's limit was byte for
// byte as long as with 8, from an encoder of 12 and 48 KiB instead of 132 and 144.
const TIERS = [
  { limit: 1024, bits: 10, memLevel: 4 },
  { limit: 4096, bits: 12, memLevel: 6 },
  { limit: 16384, bits: 14, memLevel: 8 },
  { limit: 65536, bits: 15, memLevel: 8 },
] as const
/** log2 of the brotli window for bodies of unknown length. */
const BROTLI_STREAM_WINDOW = 19
/**
 * The size hint given for bodies of unknown length: just under the 1 MiB at which brotli's
 * quality 4 switches to its large hasher. Without a hint brotli guesses the size from the
 * first write, so a stream whose first write is 1 MiB got the large hasher (8.3 MiB of
 * encoder memory instead of 5.1, measured after 8 MiB) for 1.5% less output.
 */
const BROTLI_STREAM_SIZE_HINT = 2 ** 20 - 1
const tierOf = (length: number | undefined): number => {
  if (length !== undefined) for (let i = 0; i < TIERS.length; i++) if (length <= TIERS[i]!.limit) return i
  return TIERS.length
}

/** The zlib options of every length tier, [tier][flushEveryWrite ? 1 : 0], made once per middleware. */
function optionTables(settings: EncoderSettings) {
  const { Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, BROTLI_PARAM_QUALITY, BROTLI_PARAM_SIZE_HINT, BROTLI_PARAM_LGWIN } =
    zlib.constants
  // [tier][flushEveryWrite ? 1 : 0]
  const table = <O>(make: (tier: number, flush: boolean) => O): O[][] =>
    Array.from({ length: TIERS.length + 1 }, (_, tier) => [make(tier, false), make(tier, true)])
  const deflateOptions = table(
    (tier, flush): zlib.ZlibOptions =>
      Object.freeze({
        level: settings.gzipLevel,
        ...(tier < TIERS.length ? { windowBits: TIERS[tier]!.bits, memLevel: TIERS[tier]!.memLevel } : {}),
        ...(flush ? { flush: Z_SYNC_FLUSH } : {}),
      }),
  )
  const brotliOptions = table(
    (tier, flush): zlib.BrotliOptions =>
      Object.freeze({
        params:
          tier < TIERS.length
            ? { [BROTLI_PARAM_QUALITY]: settings.brotliQuality, [BROTLI_PARAM_SIZE_HINT]: TIERS[tier]!.limit }
            : // Unknown length: a 512 KiB window (nginx's default) instead of brotli's 4 MiB. At
              // quality 4 the encoder then needs ~5 MiB instead of ~29 MiB per stream, and text
              // and JSON compress as well: their repeats are near.
              {
                [BROTLI_PARAM_QUALITY]: settings.brotliQuality,
                [BROTLI_PARAM_LGWIN]: BROTLI_STREAM_WINDOW,
                [BROTLI_PARAM_SIZE_HINT]: BROTLI_STREAM_SIZE_HINT,
              },
        ...(flush ? { flush: BROTLI_OPERATION_FLUSH } : {}),
      }),
  )
  const constants = zlib.constants as Record<string, number>
  const zstdOptions = table((_tier, flush) =>
    Object.freeze({
      params: { [constants.ZSTD_c_compressionLevel ?? 100]: settings.zstdLevel },
      ...(flush ? { flush: flushKinds.zstd } : {}),
    }),
  )
  return { deflateOptions, brotliOptions, zstdOptions }
}

/** One encoder maker per coding, with every option object made here, none per response. */
export function encoderMakers(settings: EncoderSettings): Readonly<Record<Encoding, MakeEncoder>> {
  const { deflateOptions, brotliOptions, zstdOptions } = optionTables(settings)
  const jitter = settings.jitter
  const padding = (): number => randomInt(1, jitter + 1)

  return Object.freeze({
    br:
      jitter > 0
        ? (length, flush) => new PaddedBrotli(brotliOptions[tierOf(length)]![flush ? 1 : 0]!, padding())
        : (length, flush) => zlib.createBrotliCompress(brotliOptions[tierOf(length)]![flush ? 1 : 0]),
    gzip:
      jitter > 0
        ? (length, flush) => new PaddedGzip(deflateOptions[tierOf(length)]![flush ? 1 : 0]!, padding())
        : (length, flush) => zlib.createGzip(deflateOptions[tierOf(length)]![flush ? 1 : 0]),
    deflate: (length, flush) => zlib.createDeflate(deflateOptions[tierOf(length)]![flush ? 1 : 0]),
    zstd: (_length, flush) => createZstdCompress!(zstdOptions[0]![flush ? 1 : 0]!),
  })
}

/**
 * One-call encoders for whole bodies, with the options of the body's length tier: the same
 * native encoder as the streams, on the thread pool, without a stream's per-response
 * listeners and framing. gzip and deflate reuse their encoders (see reused-deflaters.ts);
 * brotli gets one `brotliCompress` per body, since Node documents `reset()` for the zlib
 * codings only. None while padding is on (it needs the padded stream classes), and none for
 * zstd (Node 20 has no `zstdCompress`; the stream serves it).
 */
export function wholeEncoders(settings: EncoderSettings): Readonly<Partial<Record<Encoding, EncodeWhole>>> {
  if (settings.jitter > 0) return Object.freeze({})
  const { deflateOptions, brotliOptions } = optionTables(settings)
  const tierOptions = deflateOptions.map((byFlush) => byFlush[0]!)
  const gzip = new ReusedDeflaters((options) => zlib.createGzip(options), tierOptions)
  const deflate = new ReusedDeflaters((options) => zlib.createDeflate(options), tierOptions)
  return Object.freeze({
    br: (body, done) => zlib.brotliCompress(body, brotliOptions[tierOf(body.length)]![0]!, done),
    gzip: (body, done) => gzip.encode(body, tierOf(body.length), done),
    deflate: (body, done) => deflate.encode(body, tierOf(body.length), done),
  })
}

// RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS, then the optional fields in a fixed order.
const GZIP_HEADER = 10
const FLG = 3
const FCOMMENT = 0x10

/**
 * gzip with `padding` bytes in the header's comment field (padding - 1 letters and the
 * terminating zero). Node writes a bare 10-byte header; the flag is set and the comment
 * put right after it (no FEXTRA or FNAME comes first). The trailer's CRC covers the data
 * only, so nothing else changes.
 */
class PaddedGzip extends zlib.Gzip {
  #header: Buffer | undefined = Buffer.alloc(0)
  readonly #padding: number

  constructor(options: zlib.ZlibOptions, padding: number) {
    super(options)
    this.#padding = padding
  }

  override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    if (this.#header === undefined || chunk === null) return super.push(chunk, encoding)
    const seen = this.#header.length === 0 ? chunk : Buffer.concat([this.#header, chunk])
    // The header is written at once in practice; should it ever arrive split, wait for all ten bytes.
    if (seen.length < GZIP_HEADER) {
      this.#header = seen
      return true
    }
    this.#header = undefined
    const comment = Buffer.alloc(this.#padding, 0x2d) // '-' … then the terminating zero
    comment[this.#padding - 1] = 0
    const head = Buffer.from(seen.subarray(0, GZIP_HEADER))
    head[FLG] = head[FLG]! | FCOMMENT
    return super.push(Buffer.concat([head, comment, seen.subarray(GZIP_HEADER)]))
  }
}

/**
 * brotli with a `padding`-byte metadata meta-block after the stream header. An initial
 * flush makes the encoder write its header and align to a byte; the first chunk it pushes
 * is that, and the metadata block goes right behind it.
 */
class PaddedBrotli extends zlib.BrotliCompress {
  #pending: Buffer | undefined

  constructor(options: zlib.BrotliOptions, padding: number) {
    super(options)
    this.#pending = metadataBlocks(padding)
    this.flush(zlib.constants.BROTLI_OPERATION_FLUSH)
  }

  override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
    const pending = this.#pending
    if (pending === undefined || chunk === null) return super.push(chunk, encoding)
    this.#pending = undefined
    return super.push(Buffer.concat([chunk, pending]))
  }
}

/**
 * RFC 7932 §9.2 metadata meta-blocks of `size` bytes in all: ISLAST 0, MNIBBLES "11"
 * (metadata), a reserved 0 bit, MSKIPBYTES, MSKIPLEN - 1, zero bits to the byte boundary,
 * then the skipped bytes. An empty block is one byte, so sizes 1 and 2 are one or two
 * empty blocks, and 3 to 258 one block of size - 2 skipped bytes.
 */
export function metadataBlocks(size: number): Buffer {
  if (size <= 2) return Buffer.alloc(size, 0b0110)
  const skip = size - 2
  const block = Buffer.alloc(size, 0x2d)
  block[0] = 0b0110 | (1 << 4) | (((skip - 1) & 0b11) << 6)
  block[1] = (skip - 1) >> 2
  return block
}

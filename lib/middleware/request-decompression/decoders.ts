/**
 * The content codings requestDecompression() can decode, and a zlib decoder for each
 * (streaming and asynchronous: the work runs on libuv's thread pool, never `*Sync`).
 * @module
 */
import type { Transform } from 'node:stream'
import * as zlib from 'node:zlib'

/** A content coding a request body may arrive in (RFC 9110 §8.4.1). */
export type RequestEncoding = 'gzip' | 'deflate' | 'br' | 'zstd'

type ZstdZlib = { createZstdDecompress?: (options?: object) => Transform }

/** Whether the running Node decodes zstd (`zlib.createZstdDecompress`: 22.15, 23.8 and later). */
export const zstdDecodingSupported: boolean = typeof (zlib as ZstdZlib).createZstdDecompress === 'function'

/** Every coding known, in the order the 415's `Accept-Encoding` lists them. */
export const REQUEST_ENCODINGS: readonly RequestEncoding[] = Object.freeze(['gzip', 'deflate', 'br', 'zstd'])

/**
 * The coding a Content-Encoding token names, or undefined for one not known here.
 * `x-gzip` is gzip (RFC 9110 §8.4.1.3).
 */
export function codingOf(token: string): RequestEncoding | undefined {
  switch (token) {
    case 'gzip':
    case 'x-gzip':
      return 'gzip'
    case 'deflate':
    case 'br':
    case 'zstd':
      return token
    default:
      return undefined
  }
}

/**
 * A decoder for `coding`. `first` is the first byte of the body, needed for deflate only:
 * RFC 9110 §8.4.1.2 means the zlib format (RFC 1950), but some clients send raw deflate
 * (RFC 1951), so the first byte decides. A zlib stream starts with CMF: method 8 in the low
 * nibble and a window of at most 2^15 (≤ 7) in the high one. A raw stream starting so would
 * open with a stored, non-final block whose padding bits are not zero, which no encoder writes.
 */
export function makeDecoder(coding: RequestEncoding, first: number): Transform {
  switch (coding) {
    case 'gzip':
      return zlib.createGunzip()
    case 'deflate':
      return (first & 0x0f) === 8 && first >> 4 <= 7 ? zlib.createInflate() : zlib.createInflateRaw()
    case 'br':
      return zlib.createBrotliDecompress()
    case 'zstd':
      return (zlib as ZstdZlib).createZstdDecompress!()
  }
}

/**
 * Stored passwords for basicAuth(): scrypt hashes in the PHC string format
 * (`$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, base64 without padding), SHA-256 digests of
 * machine-generated secrets, and plain passwords held as their SHA-256 digest. Every
 * comparison is `crypto.timingSafeEqual` between equal-length digests.
 *
 * Why scrypt: it is in `node:crypto` (no dependency), memory-hard (a leaked configuration
 * costs an attacker memory as well as time per guess), and asynchronous on libuv's thread
 * pool, so a check never blocks the event loop. A plain SHA-256 of a human password is
 * cracked at billions of guesses per second once the digest leaks; it is accepted only for
 * random secrets of 128 bits or more, which no guessing reaches.
 * @module
 */
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** A parsed scrypt hash. */
export interface ScryptHash {
  readonly ln: number
  readonly r: number
  readonly p: number
  readonly salt: Buffer
  readonly hash: Buffer
}

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{22,})$/

/** Parse a `$scrypt$ln=…,r=…,p=…$salt$hash` string; undefined when it is not one, or its cost is out of bounds. */
export function parseScrypt(text: string): ScryptHash | undefined {
  const m = PHC.exec(text)
  if (!m) return undefined
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  // Below ln 14 a guess is cheap; above 20 one check takes a gigabyte-second.
  if (ln < 14 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined
  const salt = Buffer.from(m[4]!, 'base64')
  const hash = Buffer.from(m[5]!, 'base64')
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return undefined
  return { ln, r, p, salt, hash }
}

/** Options of {@link hashPassword}. */
export interface HashPasswordOptions {
  /** log2 of scrypt's cost N: 15 takes ~50-100 ms and 32 MiB per check. @default 15 */
  ln?: number
}

/**
 * Hash `password` for basicAuth's `users` (`{ user, scrypt: await hashPassword(pw) }`):
 * scrypt, a random 16-byte salt, a 32-byte result, as a PHC string.
 * @example
 * console.log(await hashPassword(process.argv[2]!)) // node -e: print a hash to paste into config
 */
export async function hashPassword(password: string, options: HashPasswordOptions = {}): Promise<string> {
  const ln = options.ln ?? 15
  if (!Number.isInteger(ln) || ln < 14 || ln > 20) {
    throw new RangeError(`hashPassword(): ln must be an integer from 14 to 20; received ${String(ln)}.`)
  }
  const salt = randomBytes(16)
  const hash = await scryptHash(password.normalize('NFC'), { ln, r: 8, p: 1, salt, hash: Buffer.alloc(32) })
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '')
  return `$scrypt$ln=${ln},r=8,p=1$${b64(salt)}$${b64(hash)}`
}

/** scrypt of `password` with the parameters and output length of `stored`. */
export function scryptHash(password: string, stored: ScryptHash): Promise<Buffer> {
  const N = 2 ** stored.ln
  return new Promise((ok, fail) => {
    scrypt(
      password,
      stored.salt,
      stored.hash.length,
      { N, r: stored.r, p: stored.p, maxmem: 256 * N * stored.r + 1024 * 1024 },
      (err, key) => (err ? fail(err) : ok(key)),
    )
  })
}

/** Whether `password` matches `stored`, compared in constant time. */
export async function scryptMatches(password: string, stored: ScryptHash): Promise<boolean> {
  return timingSafeEqual(await scryptHash(password, stored), stored.hash)
}

/** SHA-256 of `text` (UTF-8): 32 bytes whatever its length, so `timingSafeEqual` always applies. */
export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * A bounded set of credentials already verified against a scrypt hash, so a client sending
 * the same Basic credentials on every request pays scrypt once. Keyed by an HMAC of
 * user and password (the key is random per process), so the cache holds nothing a memory
 * dump could replay elsewhere or crack cheaply. Only successes are cached: a wrong guess
 * always costs a full scrypt.
 */
export class VerifiedCache {
  readonly #max: number
  readonly #key = randomBytes(32)
  readonly #entries = new Map<string, number>()

  constructor(max: number) {
    this.#max = max
  }

  /** The cache key of a user and password pair. */
  keyOf(user: string, password: string): string {
    return createHmac('sha256', this.#key).update(user).update('\0').update(password).digest('base64')
  }

  /** The index of the user verified under `key`, if cached. */
  get(key: string): number | undefined {
    return this.#max === 0 ? undefined : this.#entries.get(key)
  }

  set(key: string, index: number): void {
    if (this.#max === 0) return
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, index)
  }
}

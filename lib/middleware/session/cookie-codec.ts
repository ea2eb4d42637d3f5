/**
 * Signing and encryption of session cookies. A value is `body.signature`, where the
 * signature is HMAC-SHA256 over `name=body`: binding the cookie's name means a value
 * minted for one cookie is refused under another. Several secrets allow rotation: the
 * first signs, every one verifies, compared with `crypto.timingSafeEqual`. Optionally the
 * body is AES-256-GCM ciphertext (encrypt-then-MAC), for data the client must not read.
 * Each secret yields independent MAC and encryption keys through HKDF (RFC 5869), so the
 * secret itself never keys two algorithms.
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { ConfigError } from '../../core/errors.js'

/** A session secret: text (its UTF-8 bytes) or bytes, at least 32 bytes. */
export type SessionSecret = string | Uint8Array

/** Signs, verifies, seals and opens the values of one cookie. */
export interface CookieCodec {
  /** `body.signature`, signed with the first secret. */
  sign(body: string): string
  /**
   * The body of a value whose signature verifies under any secret, with the index of that
   * secret (0 is the current one; more means the cookie should be re-issued), or undefined.
   */
  verify(value: string): { readonly body: string; readonly key: number } | undefined
  /** Encrypt (when enabled), encode and sign `plain`. */
  seal(plain: string): string
  /** Verify and decrypt a sealed value: the plain text and the secret's index, or undefined. */
  open(value: string): { readonly plain: string; readonly key: number } | undefined
  /** Length of `seal(plain)` for a plain text of `bytes` UTF-8 bytes, without sealing it. */
  sealedLength(bytes: number): number
}

/** Smallest secret: 256 bits, the size of the HMAC-SHA256 output (RFC 2104 §3). */
export const MIN_SESSION_SECRET_BYTES = 32

// Said whenever secrets are missing or unusable: where they come from, and how to make one.
const SECRETS_FIX =
  `Pass secrets: [process.env.SESSION_SECRET], each at least ${MIN_SESSION_SECRET_BYTES} bytes, kept out of the code; ` +
  "generate one: crypto.randomBytes(32).toString('base64url'). Add a new one in front to rotate."

const SIGNATURE_LENGTH = 43 // base64url of 32 bytes, unpadded
const IV_BYTES = 12 // NIST SP 800-38D §8.2: 96-bit IVs, random
const TAG_BYTES = 16

/** Validate `secrets` (one or a list, current first) and build the codec of cookie `name`. */
export function createCookieCodec(middleware: string, name: string, secrets: unknown, encrypt: boolean): CookieCodec {
  const list = Array.isArray(secrets) ? secrets : secrets === undefined ? [] : [secrets]
  if (list.length === 0) throw new ConfigError(middleware, 'secrets', 'at least one secret', secrets, SECRETS_FIX)
  const keys = list.map((secret, i) => {
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
      throw new ConfigError(middleware, 'secrets', 'strings or bytes', secret, SECRETS_FIX)
    }
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
    if (bytes.length < MIN_SESSION_SECRET_BYTES) {
      throw new ConfigError(
        middleware,
        'secrets',
        `secrets of at least ${MIN_SESSION_SECRET_BYTES} bytes`,
        `${bytes.length} bytes (secret ${i + 1})`,
        "Generate one: crypto.randomBytes(32).toString('base64url').",
      )
    }
    return {
      mac: Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'http-onion session mac', 32)),
      enc: Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), 'http-onion session enc', 32)),
    }
  })
  const prefix = `${name}=`
  const mac = (key: Buffer, body: string): Buffer => createHmac('sha256', key).update(prefix).update(body).digest()

  function sign(body: string): string {
    return `${body}.${mac(keys[0]!.mac, body).toString('base64url')}`
  }

  function verify(value: string): { body: string; key: number } | undefined {
    const dot = value.lastIndexOf('.')
    if (dot < 0 || value.length - dot - 1 !== SIGNATURE_LENGTH) return undefined
    const text = value.slice(dot + 1)
    const signature = Buffer.from(text, 'base64url')
    // The decoder skips foreign characters and ignores the last character's spare bits:
    // only the canonical encoding of 32 bytes is a signature sign() could have made.
    if (signature.length !== 32 || signature.toString('base64url') !== text) return undefined
    const body = value.slice(0, dot)
    let found = -1
    for (let i = 0; i < keys.length; i++) {
      if (timingSafeEqual(signature, mac(keys[i]!.mac, body)) && found < 0) found = i
    }
    return found < 0 ? undefined : { body, key: found }
  }

  function seal(plain: string): string {
    if (!encrypt) return sign(Buffer.from(plain, 'utf8').toString('base64url'))
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', keys[0]!.enc, iv)
    const sealed = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return sign(sealed.toString('base64url'))
  }

  function open(value: string): { plain: string; key: number } | undefined {
    const verified = verify(value)
    if (verified === undefined) return undefined
    const bytes = Buffer.from(verified.body, 'base64url')
    if (!encrypt) return { plain: bytes.toString('utf8'), key: verified.key }
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', keys[verified.key]!.enc, bytes.subarray(0, IV_BYTES))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ])
      return { plain: plain.toString('utf8'), key: verified.key }
    } catch {
      // Only reachable with a valid MAC over a bad ciphertext, i.e. a secret leak or a bug.
      return undefined
    }
  }

  function sealedLength(bytes: number): number {
    const raw = encrypt ? IV_BYTES + bytes + TAG_BYTES : bytes
    return Math.ceil((raw * 4) / 3) + 1 + SIGNATURE_LENGTH
  }

  return Object.freeze({ sign, verify, seal, open, sealedLength })
}

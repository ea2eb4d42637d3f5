/**
 * Key material of jwtAuth(): turns the `secret`, `publicKey`, `jwks` or `jwksUrl` option
 * into what jose verifies with, and fixes the algorithms each may be used with. A key is
 * only ever used with its own family: an RSA public key never verifies an HS256 token
 * (the RS/HS confusion), `none` is never accepted, and asymmetric keys need an explicit
 * allow-list, so the token's own `alg` header never chooses how it is checked.
 * @module
 */
import { createPublicKey, createSecretKey, KeyObject, type webcrypto } from 'node:crypto'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose'
import { ConfigError, describeValue } from '../../core/errors.js'
import { compileRanges, parseIp } from '../../core/ip.js'
import { reportError } from '../../core/report.js'

/** An HMAC secret: text (its UTF-8 bytes), bytes, a secret KeyObject or an `oct` JWK. */
export type JwtSecret = string | Uint8Array | KeyObject | JWK
/** A public key: PEM text (SPKI or certificate), a JWK, a public KeyObject or CryptoKey. */
export type JwtPublicKey = string | JWK | KeyObject | webcrypto.CryptoKey

/** The key options of jwtAuth(), exactly one of which is set. */
export interface JwtKeyOptions {
  secret?: JwtSecret | undefined
  publicKey?: JwtPublicKey | undefined
  jwks?: JSONWebKeySet | undefined
  jwksUrl?: string | URL | undefined
  algorithms?: readonly string[] | undefined
  jwksCooldownMs: number
  jwksTimeoutMs: number
  jwksMaxAgeMs: number
}

/** What jose verifies with. */
export interface ResolvedKeys {
  readonly key: KeyObject | JWTVerifyGetKey
  readonly algorithms: readonly string[]
  /** For `explain()`: `'HS256,HS384,HS512 secret'`, `'RS256 jwks https://…'`. */
  readonly detail: string
}

const NAME = 'jwtAuth'
// The families of RFC 7518 §3.1: each algorithm names the one kind of key it may use.
const HMAC = ['HS256', 'HS384', 'HS512']
// RSASSA-PKCS1-v1_5 and RSASSA-PSS (RFC 7518 §3.3, §3.5) share RSA keys.
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
// RFC 7518 §3.4: each ECDSA algorithm is bound to one curve; Node names them by OpenSSL name.
const EC_BY_CURVE: Readonly<Record<string, readonly string[]>> = {
  prime256v1: ['ES256'],
  secp384r1: ['ES384'],
  secp521r1: ['ES512'],
}
// EdDSA (RFC 8037 §3.1), and Ed25519, its fully specified name, which jose also accepts.
const OKP = ['EdDSA', 'Ed25519']
const ASYMMETRIC = [...RSA, 'ES256', 'ES384', 'ES512', ...OKP]

/** Smallest HMAC secret: RFC 7518 §3.2 asks for a key at least as long as the hash (256 bits for HS256). */
export const MIN_SECRET_BYTES = 32

/** Smallest RSA modulus: RFC 7518 §3.3 requires 2048 bits, and jose refuses smaller keys when it verifies. */
export const MIN_RSA_BITS = 2048
const SHORT_RSA_FIX =
  `jose refuses RSA keys under ${MIN_RSA_BITS} bits (RFC 7518 §3.3), so every token they sign would get 401 at run time; ` +
  `have the issuer rotate to a key of ${MIN_RSA_BITS} bits or more.`

/** Validate the key options and build the key jose verifies with. Throws ConfigError. */
export function resolveKeys(options: JwtKeyOptions, now: () => number): ResolvedKeys {
  const given = (['secret', 'publicKey', 'jwks', 'jwksUrl'] as const).filter((k) => options[k] !== undefined)
  if (given.length !== 1) {
    throw new ConfigError(
      NAME,
      given.length === 0 ? 'secret' : given[1]!,
      'exactly one of secret, publicKey, jwks or jwksUrl',
      given.length === 0 ? undefined : options[given[1]!],
      given.length === 0 ? 'Tokens cannot be verified without a key.' : `Also given: ${given.join(', ')}; keep one.`,
    )
  }
  if (options.secret !== undefined) {
    const key = secretKey(options.secret)
    const algorithms = allowList(options.algorithms, HMAC, 'an HMAC secret', false)
    return { key, algorithms, detail: `${algorithms.join(',')} secret` }
  }
  if (options.publicKey !== undefined) {
    const key = publicKey(options.publicKey)
    const family = keyFamily(key)
    const algorithms = allowList(options.algorithms, family, `this ${key.asymmetricKeyType} public key`, true)
    return { key, algorithms, detail: `${algorithms.join(',')} public key` }
  }
  if (options.jwks !== undefined) {
    const algorithms = allowList(options.algorithms, ASYMMETRIC, 'a JSON Web Key Set', true)
    return {
      key: localSet(options.jwks),
      algorithms,
      detail: `${algorithms.join(',')} jwks (${options.jwks.keys.length} keys)`,
    }
  }
  const algorithms = allowList(options.algorithms, ASYMMETRIC, 'a JSON Web Key Set', true)
  const url = jwksUrl(options.jwksUrl!)
  return { key: remoteSet(url, options, now), algorithms, detail: `${algorithms.join(',')} jwks ${url.href}` }
}

/** The algorithms to accept: the user's list, each checked against the key's family. */
function allowList(
  list: readonly string[] | undefined,
  family: readonly string[],
  what: string,
  required: boolean,
): readonly string[] {
  // A secret can only ever be an HMAC key, so its whole family is safe as a default; for
  // public keys and key sets the issuer's algorithm must be named (RFC 8725 §3.1).
  if (list === undefined) {
    if (!required) return Object.freeze([...family])
    throw new ConfigError(
      NAME,
      'algorithms',
      `an explicit list for ${what}`,
      list,
      `Name the algorithms your issuer signs with, e.g. ['${family[0]}']; the token's own "alg" header must never choose.`,
    )
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(
      NAME,
      'algorithms',
      'a non-empty array of JWS algorithm names',
      list,
      `Name the algorithms your issuer signs with, e.g. ['${family[0]}'].`,
    )
  }
  for (const alg of list) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      throw new ConfigError(
        NAME,
        'algorithms',
        'signing algorithms',
        alg,
        'Unsigned tokens ("alg": "none") are never accepted.',
      )
    }
    if (typeof alg !== 'string' || !family.includes(alg)) {
      throw new ConfigError(
        NAME,
        'algorithms',
        `algorithms usable with ${what} (${family.join(', ')})`,
        alg,
        HMAC.includes(alg as string) || family === HMAC
          ? 'A key is only used with its own family: mixing HMAC and public-key algorithms lets a public key be used as an HMAC secret.'
          : '',
      )
    }
  }
  return Object.freeze([...new Set(list)])
}

/** An HMAC secret as a secret KeyObject, whatever form it was given in, at least 32 bytes. */
function secretKey(secret: JwtSecret): KeyObject {
  let key: KeyObject
  if (typeof secret === 'string') {
    // A PEM passed as an HMAC secret is the RS/HS confusion set up by configuration.
    if (secret.includes('-----BEGIN'))
      throw new ConfigError(
        NAME,
        'secret',
        'an HMAC secret, not a PEM key',
        '(a PEM key)',
        'Pass public keys as publicKey.',
      )
    key = createSecretKey(Buffer.from(secret, 'utf8'))
  } else if (secret instanceof Uint8Array) {
    key = createSecretKey(Buffer.from(secret))
  } else if (secret instanceof KeyObject) {
    if (secret.type !== 'secret')
      throw new ConfigError(
        NAME,
        'secret',
        'a secret KeyObject',
        `a ${secret.type} KeyObject`,
        'Pass public keys as publicKey.',
      )
    key = secret
  } else if (isJwk(secret) && secret.kty === 'oct' && typeof secret.k === 'string') {
    key = createSecretKey(Buffer.from(secret.k, 'base64url'))
  } else {
    throw new ConfigError(
      NAME,
      'secret',
      'a string, bytes, a secret KeyObject or an "oct" JWK',
      secret,
      isJwk(secret) ? 'Pass public keys as publicKey.' : '',
    )
  }
  const size = key.symmetricKeySize ?? 0
  if (size < MIN_SECRET_BYTES) {
    throw new ConfigError(
      NAME,
      'secret',
      `at least ${MIN_SECRET_BYTES} bytes`,
      `${size} bytes`,
      "A short secret can be brute-forced from one token. Generate one: crypto.randomBytes(32).toString('base64url').",
    )
  }
  return key
}

/**
 * Read a public key into a KeyObject at construction, so a bad key fails at startup and
 * its type decides the algorithm family. Private keys are refused rather than reduced to
 * their public half: a verifier holding the issuer's private key is a configuration leak.
 */
function publicKey(input: JwtPublicKey): KeyObject {
  try {
    if (typeof input === 'string') {
      if (/PRIVATE KEY-----/.test(input))
        throw new ConfigError(
          NAME,
          'publicKey',
          'a public key',
          '(a private key PEM)',
          'A verifier needs only the public key; keep the private key with the issuer.',
        )
      return createPublicKey(input)
    }
    if (input instanceof KeyObject) {
      if (input.type !== 'public')
        throw new ConfigError(
          NAME,
          'publicKey',
          'a public KeyObject',
          `a ${input.type} KeyObject`,
          input.type === 'secret' ? 'Pass HMAC secrets as secret.' : 'Derive it: crypto.createPublicKey(privateKey).',
        )
      return input
    }
    if (isCryptoKey(input)) {
      if (input.type !== 'public')
        throw new ConfigError(NAME, 'publicKey', 'a public CryptoKey', `a ${input.type} CryptoKey`)
      return KeyObject.from(input)
    }
    if (isJwk(input)) {
      if (input.kty === 'oct')
        throw new ConfigError(
          NAME,
          'publicKey',
          'a public JWK',
          'an "oct" (secret) JWK',
          'Pass HMAC secrets as secret.',
        )
      if (input.d !== undefined)
        throw new ConfigError(
          NAME,
          'publicKey',
          'a public JWK',
          'a private JWK (it has "d")',
          'Remove the private members.',
        )
      return createPublicKey({ key: input as import('node:crypto').JsonWebKey, format: 'jwk' })
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(
      NAME,
      'publicKey',
      'a valid public key (PEM, JWK, KeyObject or CryptoKey)',
      input,
      `It could not be read: ${(err as Error).message}`,
    )
  }
  throw new ConfigError(NAME, 'publicKey', 'a PEM string, a JWK, a public KeyObject or CryptoKey', input)
}

/** The algorithms a public key can verify. */
function keyFamily(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
      if (bits < MIN_RSA_BITS)
        throw new ConfigError(
          NAME,
          'publicKey',
          `an RSA key of at least ${MIN_RSA_BITS} bits`,
          `a ${bits}-bit RSA key`,
          SHORT_RSA_FIX,
        )
      return RSA
    }
    // WebCrypto (which jose verifies with) cannot import RSASSA-PSS-only SPKI keys;
    // PS256/384/512 verify with an ordinary RSA key.
    case 'rsa-pss':
      throw new ConfigError(
        NAME,
        'publicKey',
        'an RSA key in rsaEncryption form',
        'an RSA-PSS-only key',
        'Export the key as an ordinary RSA public key; PS256 works with it.',
      )
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? ''
      const family = EC_BY_CURVE[curve]
      if (family) return family
      throw new ConfigError(
        NAME,
        'publicKey',
        'an EC key on P-256, P-384 or P-521',
        `a key on ${curve}`,
        'ES256, ES384 and ES512 are defined on these curves only (RFC 7518 §3.4).',
      )
    }
    case 'ed25519':
      return OKP
    default:
      throw new ConfigError(
        NAME,
        'publicKey',
        'an RSA, EC or Ed25519 key',
        `a ${describeValue(key.asymmetricKeyType)} key`,
      )
  }
}

/** A local key set: public keys only, chosen per token by `kid` (and `alg`) by jose. */
function localSet(jwks: JSONWebKeySet): JWTVerifyGetKey {
  if (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new ConfigError(NAME, 'jwks', 'a JSON Web Key Set: { keys: [...] } with at least one key', jwks)
  }
  for (const key of jwks.keys) {
    if (!isJwk(key) || key.kty === 'oct' || key.d !== undefined) {
      throw new ConfigError(
        NAME,
        'jwks',
        'a set of public keys',
        key,
        'Secret ("oct") and private keys do not belong in a verifier\'s key set.',
      )
    }
    const bits = rsaBits(key)
    if (bits !== undefined && bits < MIN_RSA_BITS) {
      throw new ConfigError(
        NAME,
        'jwks',
        `RSA keys of at least ${MIN_RSA_BITS} bits`,
        `a ${bits}-bit RSA key${typeof key.kid === 'string' ? ` (kid ${JSON.stringify(key.kid)})` : ''}`,
        SHORT_RSA_FIX,
      )
    }
  }
  return createLocalJWKSet(jwks)
}

/** The modulus size of an RSA JWK, in bits; undefined for other key types or a missing `n`. */
function rsaBits(key: JWK): number | undefined {
  if (key.kty !== 'RSA' || typeof key.n !== 'string') return undefined
  const n = Buffer.from(key.n, 'base64url')
  let i = 0
  while (i < n.length && n[i] === 0) i++
  return i === n.length ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!))
}

/**
 * Report the RSA keys of a fetched key set that jose will refuse, once per fetch: the
 * tokens they sign get 401, and without this the operator would see only refusals.
 */
function reportShortRsaKeys(url: URL, body: unknown): void {
  const keys = (body as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) return
  const short = keys
    .filter(isJwk)
    .map((key) => [key, rsaBits(key)] as const)
    .filter(([, bits]) => bits !== undefined && bits < MIN_RSA_BITS)
  if (short.length === 0) return
  const list = short
    .map(([key, bits]) => `${bits} bits${typeof key.kid === 'string' ? ` (kid ${JSON.stringify(key.kid)})` : ''}`)
    .join(', ')
  reportError(
    `jwtAuth(): the JWKS at ${url.href} holds RSA keys under ${MIN_RSA_BITS} bits: ${list}`,
    new Error(SHORT_RSA_FIX),
  )
}

/** The JWKS location: absolute, and https unless it is on this machine. */
function jwksUrl(input: string | URL): URL {
  let url: URL
  try {
    url = new URL(String(input))
  } catch {
    throw new ConfigError(
      NAME,
      'jwksUrl',
      'an absolute https URL',
      input,
      'Give the full URL, e.g. "https://id.example.com/.well-known/jwks.json" (the issuer\'s jwks_uri).',
    )
  }
  // Keys fetched over plain http can be swapped by anyone on the path; only loopback is exempt (tests, sidecars).
  const loopback = url.hostname === 'localhost' || isLoopback(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      NAME,
      'jwksUrl',
      'an https URL (http only on loopback)',
      input,
      'Keys fetched over http can be replaced in transit.',
    )
  }
  return url
}

/**
 * jose's remote key set (cached, refetched on an unknown `kid` at most once per cooldown,
 * each fetch bounded by the timeout), with one addition: after a failed fetch no new
 * fetch starts for a cooldown. Without it, every request naming a key jose does not hold
 * would start a fetch while the JWKS endpoint is down; with it they fail at once, and
 * tokens signed by keys already fetched keep verifying.
 */
function remoteSet(url: URL, options: JwtKeyOptions, now: () => number): JWTVerifyGetKey {
  let retryAt = 0
  const failed = (reason: unknown): void => {
    retryAt = now() + options.jwksCooldownMs
    reportError(
      `jwtAuth(): fetching the JWKS from ${url.href} failed; no new attempt for ${options.jwksCooldownMs} ms`,
      reason,
    )
  }
  // jose's own fetch, wrapped (through its documented customFetch hook): the request and
  // its timeout signal are jose's; only the decision to send it at all is added here.
  const fetchWithBackoff = async (input: string, init: RequestInit): Promise<Response> => {
    if (now() < retryAt)
      throw new Error(`JWKS fetch suppressed after a recent failure (until ${new Date(retryAt).toISOString()})`)
    let response: Response
    try {
      response = await fetch(input, init)
    } catch (err) {
      failed(err)
      throw err
    }
    if (response.status !== 200) failed(new Error(`HTTP ${response.status}`))
    // Read from a copy, without delaying jose, which parses (and validates) the original.
    else
      response
        .clone()
        .json()
        .then(
          (body: unknown) => reportShortRsaKeys(url, body),
          () => undefined,
        )
    return response
  }
  return createRemoteJWKSet(url, {
    cooldownDuration: options.jwksCooldownMs,
    timeoutDuration: options.jwksTimeoutMs,
    cacheMaxAge: options.jwksMaxAgeMs,
    [customFetch]: fetchWithBackoff,
  })
}

const isJwk = (value: unknown): value is JWK =>
  value !== null && typeof value === 'object' && typeof (value as JWK).kty === 'string'

// Node ≥ 20 has CryptoKey as a global class; @types/node only declares it with the DOM lib.
const CryptoKeyClass = (globalThis as unknown as { CryptoKey?: abstract new () => webcrypto.CryptoKey }).CryptoKey
const isCryptoKey = (value: unknown): value is webcrypto.CryptoKey =>
  CryptoKeyClass !== undefined && value instanceof CryptoKeyClass

const loopbackRanges = compileRanges(['loopback'])

/** Whether a URL's hostname (IPv6 in brackets, as `URL` gives it) is a loopback address. */
function isLoopback(hostname: string): boolean {
  const ip = parseIp(hostname.startsWith('[') ? hostname.slice(1, -1) : hostname)
  return ip !== undefined && loopbackRanges.match(ip)
}

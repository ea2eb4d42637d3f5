/**
 * For session tests: a cookie jar that behaves like a browser for one origin (keeps what
 * Set-Cookie gives, drops what Max-Age=0 clears), and a handler that exercises a session
 * through its URL.
 */
import { getSession, type RawHandler } from '../../lib/index.js'
import { userIdState } from '../../lib/core.js'

export interface SessionReply {
  status: number
  body: Record<string, unknown>
  setCookie: string[]
}

/** One browser's cookies for one origin. */
export class CookieJar {
  readonly cookies = new Map<string, string>()

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  take(lines: readonly string[]): void {
    for (const line of lines) {
      const pair = line.split(';')[0]!
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      if (/;\s*Max-Age=0(;|$)/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, pair.slice(eq + 1))
    }
  }

  /** A copy, to replay later what this browser holds now. */
  snapshot(): CookieJar {
    const copy = new CookieJar()
    for (const [name, value] of this.cookies) copy.cookies.set(name, value)
    return copy
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<SessionReply> {
    const cookie = this.header()
    const res = await fetch(url, { headers: { ...(cookie ? { cookie } : {}), ...headers } })
    const text = await res.text()
    let body: Record<string, unknown>
    try {
      body = JSON.parse(text) as Record<string, unknown>
    } catch {
      body = { text }
    }
    const setCookie = res.headers.getSetCookie()
    this.take(setCookie)
    return { status: res.status, body, setCookie }
  }
}

/**
 * A handler driven by its path: `/read`, `/set?k=v`, `/incr`, `/push?item=x` (changes an
 * array in place), `/login?user=u` (regenerate, then set userId), `/logout` (destroy),
 * `/touch`, `/save?k=v` (set, then await save()), `/big?size=n`, `/delete?k=`, `/clear`.
 */
export const sessionApp: RawHandler = async (req, res) => {
  const url = new URL(req.url!, 'http://x')
  const s = getSession(req)
  const q = Object.fromEntries(url.searchParams)
  let extra: Record<string, unknown> = {}
  switch (url.pathname) {
    case '/set':
      for (const [k, v] of Object.entries(q)) s.set(k, v)
      break
    case '/incr':
      s.set('count', Number(s.get('count') ?? 0) + 1)
      break
    case '/push': {
      const cart = s.get('cart') as string[] | undefined
      if (cart) cart.push(q.item!)
      else s.set('cart', [q.item!])
      break
    }
    case '/login':
      await s.regenerate({ keepData: q.keep === '1' })
      s.set('userId', q.user!)
      break
    case '/logout':
      await s.destroy()
      break
    case '/touch':
      s.touch()
      break
    case '/save':
      for (const [k, v] of Object.entries(q)) s.set(k, v)
      extra = { saved: await s.save() }
      break
    case '/delete':
      s.delete(q.k!)
      break
    case '/clear':
      s.clear()
      break
    case '/big':
      try {
        s.set('blob', 'x'.repeat(Number(q.size)))
      } catch (err) {
        extra = { error: (err as Error).name, message: (err as Error).message }
      }
      break
  }
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      ...extra,
      data: Object.fromEntries(s.keys().map((k) => [k, s.get(k)])),
      id: s.id ?? null,
      isNew: s.isNew,
      user: userIdState.tryGet(req) ?? null,
    }),
  )
}

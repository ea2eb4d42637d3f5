import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { startRedis } from '../helpers/redis.js'
import { CookieJar } from '../helpers/session-client.js'

async function post(url: string, jar: CookieJar): Promise<{ text: string; setCookie: string[] }> {
  const res = await fetch(url, { method: 'POST', headers: { cookie: jar.header() } })
  const setCookie = res.headers.getSetCookie()
  jar.take(setCookie)
  return { text: await res.text(), setCookie }
}

t.test('docs session example: visits, login regenerates, logout clears', async (t) => {
  const example = await runExample(t, 'session.ts')
  const jar = new CookieJar()
  t.equal((await jar.get(example.url)).body.text, 'anonymous, visit 1\n')
  t.equal((await jar.get(example.url)).body.text, 'anonymous, visit 2\n')
  const before = jar.cookies.get('session')
  t.equal((await post(`${example.url}/login`, jar)).text, 'alice, visit 1\n')
  t.not(jar.cookies.get('session'), before)
  t.equal((await jar.get(example.url)).body.text, 'alice, visit 2\n')
  const out = await post(`${example.url}/logout`, jar)
  t.match(out.setCookie, [/Max-Age=0/])
  t.equal((await jar.get(example.url)).body.text, 'anonymous, visit 1\n')
})

t.test('docs session example with Redis: cart kept in Redis; paused Redis is a 503', async (t) => {
  const redis = await startRedis(t)
  if (!redis) return
  const example = await runExample(t, 'session-redis.ts', { REDIS_PORT: String(redis.port) })
  const jar = new CookieJar()
  await jar.get(`${example.url}/?add=apple`)
  t.same((await jar.get(`${example.url}/?add=pear`)).body, { cart: ['apple', 'pear'] })
  t.match(jar.cookies.get('session'), /^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/)
  redis.pause()
  const down = await jar.get(example.url)
  redis.resume()
  t.equal(down.status, 503)
  t.same(down.setCookie, [])
  t.same((await jar.get(example.url)).body, { cart: ['apple', 'pear'] })
})

import t, { type Test } from 'tap'
import type { RawHandler } from '../../lib/index.js'
import { appendVary, singleHeader } from '../../lib/core.js'
import { setFlagsFromString } from 'node:v8'
import {
  addFixedHeaders,
  appendOwnVary,
  FixedHeaders,
  isQuotedStringSafe,
  prepareHeaderMap,
  readHeader,
  setOwnHeader,
} from '../../lib/core/headers.js'
import { onResponseStart } from '../../lib/core/response-start.js'
import { serve } from '../helpers/serve.js'
import { parseRawResponse, rawExchange } from '../helpers/raw.js'

const varyAfter = async (t: Test, setup: RawHandler) => {
  const url = await serve(t, (req, res) => {
    setup(req, res)
    res.end()
  })
  const res = await fetch(url)
  return res.headers.get('vary')
}

t.test('appendVary(): sets, merges, never duplicates, leaves * alone', async (t) => {
  t.equal(await varyAfter(t, (_q, res) => appendVary(res, 'Origin')), 'Origin')
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', 'Accept-Encoding')
      appendVary(res, 'Origin')
    }),
    'Accept-Encoding, Origin',
  )
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', 'origin')
      appendVary(res, 'Origin', 'Accept')
    }),
    'origin, Accept',
  )
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', '*')
      appendVary(res, 'Origin')
    }),
    '*',
  )
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', ['A', 'B'])
      appendVary(res, 'b', 'C', 'c')
    }),
    'A, B, C',
  )
})

t.test('singleHeader(): a header sent once, or undefined when repeated', async (t) => {
  const seen: Array<string | undefined> = []
  const url = await serve(t, (req, res) => {
    seen.push(
      singleHeader(req, 'x-id'),
      singleHeader(req, 'host'),
      singleHeader(req, 'x-list'),
      singleHeader(req, 'x-missing'),
    )
    res.end()
  })
  await rawExchange(
    url,
    'GET / HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\nX-Id: 2\r\nX-List: a, b\r\nConnection: close\r\n\r\n',
  ).then(parseRawResponse)
  t.same(seen, [undefined, 'a', 'a, b', undefined])
  seen.length = 0
  await rawExchange(url, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Id: 1\r\nConnection: close\r\n\r\n').then(
    parseRawResponse,
  )
  t.same(seen.slice(0, 2), ['1', undefined], 'Node keeps the first Host and drops the second; the raw list shows both')
})

t.test('appendVary(): the single-field fast path agrees with the general one', async (t) => {
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', 'Origin')
      appendVary(res, 'Accept-Encoding')
    }),
    'Origin, Accept-Encoding',
  )
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', 'ORIGIN')
      appendVary(res, 'origin')
    }),
    'ORIGIN',
  )
  t.equal(
    (
      await varyAfter(t, (_q, res) => {
        res.setHeader('vary', ' * ')
        appendVary(res, 'Origin')
      })
    )?.trim(),
    '*',
  )
  t.equal(
    await varyAfter(t, (_q, res) => {
      res.setHeader('vary', '')
      appendVary(res, 'Origin')
    }),
    'Origin',
  )
})

t.test('isQuotedStringSafe(): printable ASCII and space without DQUOTE or backslash', async (t) => {
  t.ok(isQuotedStringSafe('The realm 1'))
  t.ok(isQuotedStringSafe(''))
  t.notOk(isQuotedStringSafe('a"b'))
  t.notOk(isQuotedStringSafe('a\\b'))
  t.notOk(isQuotedStringSafe('a\nb'))
  t.notOk(isQuotedStringSafe('a\tb'))
  t.notOk(isQuotedStringSafe('é'))
})

t.test(
  'addFixedHeaders(): Node keeps headers under kOutHeaders as { name: [name, value] }, null at first',
  async (t) => {
    // The fast path writes into this map; when Node changes its shape, this fails first.
    const { OutgoingMessage } = await import('node:http')
    const res = new OutgoingMessage()
    const symbol = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders')
    t.ok(symbol, 'the symbol is an own property of every response')
    const slots = res as unknown as Record<symbol, unknown>
    t.equal(slots[symbol!], null)
    res.setHeader('X-Thing', 'a')
    t.same({ ...(slots[symbol!] as object) }, { 'x-thing': ['X-Thing', 'a'] })
    t.equal(res.setHeader, OutgoingMessage.prototype.setHeader)
  },
)

t.test('addFixedHeaders(): adds what is missing, keeps what is set unless override, as setHeader would', async (t) => {
  const fixed = new FixedHeaders([
    ['x-one', '1'],
    ['X-Two', '2'],
  ])
  const seen: unknown[] = []
  const url = await serve(t, (req, res) => {
    if (req.url === '/kept') res.setHeader('x-one', 'mine')
    if (req.url === '/fresh' || req.url === '/kept') addFixedHeaders(res, fixed, false)
    if (req.url === '/override') {
      res.setHeader('X-One', 'mine')
      addFixedHeaders(res, fixed, true)
    }
    // Node's own accessors see them, and appendHeader extends one of them.
    res.appendHeader('x-two', '3')
    seen.push(res.getHeader('x-one'), res.hasHeader('X-TWO'), res.getHeaderNames())
    res.end()
  })
  const fresh = await fetch(`${url}/fresh`)
  t.equal(fresh.headers.get('x-one'), '1')
  t.equal(fresh.headers.get('x-two'), '2, 3')
  t.same(seen.splice(0), ['1', true, ['x-one', 'x-two']])
  const kept = await fetch(`${url}/kept`)
  t.equal(kept.headers.get('x-one'), 'mine')
  t.same(seen.splice(0), ['mine', true, ['x-one', 'x-two']])
  const replaced = await fetch(`${url}/override`)
  t.equal(replaced.headers.get('x-one'), '1')
  t.equal(replaced.headers.get('x-two'), '2, 3', 'a fresh entry per response: the shared value is not changed')
})

t.test('addFixedHeaders(): goes through setHeader when something replaced it', async (t) => {
  const fixed = new FixedHeaders([['x-one', '1']])
  const calls: string[] = []
  const url = await serve(t, (_req, res) => {
    const original = res.setHeader
    res.setHeader = function (this: typeof res, name: string, value: number | string | readonly string[]) {
      calls.push(name)
      return original.call(this, name, value)
    } as typeof res.setHeader
    addFixedHeaders(res, fixed, false)
    res.end()
  })
  const res = await fetch(url)
  t.equal(res.headers.get('x-one'), '1')
  t.same(calls, ['x-one'])
})

// V8's own test of an object's mode, compiled after the flag is set (this file runs alone in its process).
setFlagsFromString('--allow-natives-syntax')
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: unknown) => boolean
const outHeaders = (res: object) => {
  const symbol = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kOutHeaders')!
  return (res as Record<symbol, object | null>)[symbol]
}

t.test('prepareHeaderMap(): a response registered with the core keeps ~20 headers in fast mode', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `x-field-${i}`)
  const seen: Array<{ fast: boolean; names: string[] }> = []
  const url = await serve(t, (req, res) => {
    // The first registration makes the map, before any header is set.
    if (req.url === '/core') onResponseStart(res, () => {})
    for (const name of names) res.setHeader(name, name.toUpperCase())
    seen.push({ fast: hasFastProperties(outHeaders(res)), names: res.getHeaderNames() })
    res.end()
  })
  const core = await fetch(`${url}/core`)
  t.equal(core.headers.get('x-field-19'), 'X-FIELD-19')
  t.same(seen.splice(0), [{ fast: true, names }], 'fast, and Node still lists every name in order')
  // Without the core, Node's own map: this is what the core saves (and what the check above
  // would see if the core stopped preparing the map).
  await fetch(`${url}/plain`)
  t.same(seen.splice(0), [{ fast: false, names }])
})

t.test("prepareHeaderMap(): no name is found on the map that was not set, as with Node's map", async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (_req, res) => {
    prepareHeaderMap(res)
    const map = outHeaders(res)!
    seen.push(
      res.hasHeader('constructor'),
      res.hasHeader('__proto__'),
      res.hasHeader('toString'),
      res.getHeader('valueOf'),
      res.getHeaderNames(),
      Object.isFrozen(Object.getPrototypeOf(map)),
    )
    // Names that are properties of ordinary objects are ordinary header names here.
    res.setHeader('constructor', 'c')
    res.setHeader('__proto__', 'p')
    res.appendHeader('__proto__', 'q')
    res.setHeader('x-gone', '1')
    res.removeHeader('x-gone')
    seen.push(res.getHeaders(), res.hasHeader('x-gone'))
    res.end()
  })
  const res = await fetch(url)
  t.equal(res.headers.get('constructor'), 'c')
  t.equal(res.headers.get('__proto__'), 'p, q')
  t.equal(res.headers.get('x-gone'), null)
  t.same(seen, [false, false, false, undefined, [], true, { constructor: 'c', __proto__: ['p', 'q'] }, false])
})

t.test('prepareHeaderMap(): leaves a map that exists alone', async (t) => {
  const url = await serve(t, (_req, res) => {
    res.setHeader('x-first', '1')
    const before = outHeaders(res)
    prepareHeaderMap(res)
    res.setHeader('x-same-map', String(outHeaders(res) === before))
    res.end()
  })
  const res = await fetch(url)
  t.equal(res.headers.get('x-first'), '1')
  t.equal(res.headers.get('x-same-map'), 'true')
})

t.test('setOwnHeader(): sets as setHeader would, straight into the map', async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (req, res) => {
    if (req.url === '/prepared') prepareHeaderMap(res)
    setOwnHeader(res, 'x-own', 'a')
    setOwnHeader(res, 'x-own', 'b')
    res.setHeader('X-Theirs', '1')
    seen.push(res.getHeader('x-own'), res.getHeaderNames(), hasFastProperties(outHeaders(res)))
    res.end()
    // Once the head is out, Node's own error, as from setHeader.
    try {
      setOwnHeader(res, 'x-late', '1')
    } catch (err) {
      seen.push((err as NodeJS.ErrnoException).code)
    }
  })
  for (const path of ['/prepared', '/fresh']) {
    const res = await fetch(url + path)
    t.equal(res.headers.get('x-own'), 'b', path)
    t.equal(res.headers.get('x-theirs'), '1', path)
    t.same(
      seen.splice(0),
      ['b', ['x-own', 'x-theirs'], true, 'ERR_HTTP_HEADERS_SENT'],
      `${path}: a fast map either way`,
    )
  }
})

t.test('setOwnHeader(): a number stays a number, as setHeader keeps it', async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (_req, res) => {
    setOwnHeader(res, 'content-length', 5)
    seen.push(res.getHeader('content-length'), readHeader(res, 'content-length'))
    res.end('hello')
  })
  const res = await fetch(url)
  t.equal(res.headers.get('content-length'), '5')
  t.equal(await res.text(), 'hello')
  t.same(seen, [5, 5])
})

t.test('setOwnHeader(): goes through setHeader when something replaced it', async (t) => {
  const calls: string[] = []
  const url = await serve(t, (_req, res) => {
    const original = res.setHeader
    res.setHeader = function (this: typeof res, name: string, value: number | string | readonly string[]) {
      calls.push(`${name}=${value}`)
      return original.call(this, name, value)
    } as typeof res.setHeader
    setOwnHeader(res, 'x-own', 'a')
    res.end()
  })
  const res = await fetch(url)
  t.equal(res.headers.get('x-own'), 'a')
  t.same(calls, ['x-own=a'])
})

t.test('readHeader(): what getHeader gives, read straight from the map', async (t) => {
  const seen: Array<[string, unknown, unknown]> = []
  const url = await serve(t, (req, res) => {
    const ask = (name: string) => seen.push([name, readHeader(res, name), res.getHeader(name)])
    // Before any map exists, then with Node's map or the core's fast one.
    ask('content-type')
    if (req.url === '/prepared') prepareHeaderMap(res)
    ask('content-type')
    res.setHeader('Content-Type', 'text/plain')
    res.setHeader('X-Many', ['a', 'b'])
    res.setHeader('Content-Length', 2)
    setOwnHeader(res, 'x-own', 'o')
    for (const name of ['content-type', 'x-many', 'content-length', 'x-own', 'x-absent', 'constructor', '__proto__'])
      ask(name)
    // It reads the map by the name as given (lower case, as the map keeps it), where getHeader
    // lower-cases every name first: the work it exists to skip.
    seen.push(['Content-Type as given', readHeader(res, 'Content-Type'), undefined])
    res.removeHeader('content-type')
    ask('content-type')
    res.end('ok')
  })
  for (const path of ['/prepared', '/fresh']) {
    await (await fetch(url + path)).text()
    t.equal(seen.length, 11, path)
    for (const [name, read, got] of seen.splice(0)) t.same(read, got, `${path}: ${name}`)
  }
})

t.test('readHeader(): goes through getHeader when something replaced it', async (t) => {
  const calls: string[] = []
  const url = await serve(t, (_req, res) => {
    res.setHeader('x-set', 'real')
    res.getHeader = function (this: typeof res, name: string) {
      calls.push(name)
      return name === 'x-set' ? 'wrapped' : undefined
    } as typeof res.getHeader
    res.setHeader('x-read', String(readHeader(res, 'x-set')))
    res.end()
  })
  const res = await fetch(url)
  t.equal(res.headers.get('x-read'), 'wrapped')
  t.same(calls, ['x-set'])
})

t.test("FixedHeaders: validated when built, with Node's checks", async (t) => {
  t.throws(() => new FixedHeaders([['bad name', 'x']]), { code: 'ERR_INVALID_HTTP_TOKEN' })
  t.throws(() => new FixedHeaders([['x-ok', 'a\nb']]), { code: 'ERR_INVALID_CHAR' })
})

t.test('appendOwnVary(): merges as appendVary does, over the wire', async (t) => {
  // Each case: what the handler set (undefined: nothing), the field added, the Vary sent.
  const cases: Array<[string | string[] | undefined, string, string | null]> = [
    [undefined, 'Origin', 'Origin'],
    ['Origin', 'Accept-Encoding', 'Origin, Accept-Encoding'],
    ['ORIGIN', 'origin', 'ORIGIN'],
    // Same length, different name: lower-cased and compared, still added.
    ['Cookie', 'Origin', 'Cookie, Origin'],
    [' * ', 'Origin', '*'],
    ['', 'Origin', 'Origin'],
    ['Accept, Origin', 'origin', 'Accept, Origin'],
    ['Accept, Cookie', 'Origin', 'Accept, Cookie, Origin'],
    [['Accept', 'Cookie'], 'Accept-Encoding', 'Accept, Cookie, Accept-Encoding'],
  ]
  for (const [set, field, expected] of cases) {
    for (const append of [appendOwnVary, (res: Parameters<typeof appendVary>[0], f: string) => appendVary(res, f)]) {
      const sent = await varyAfter(t, (_q, res) => {
        if (set !== undefined) res.setHeader('Vary', set)
        append(res, field)
      })
      t.equal(sent?.trim() ?? null, expected, `${JSON.stringify(set)} + ${field} (${append.name || 'appendVary'})`)
    }
  }
})

t.test('appendOwnVary(): goes through setHeader where Node’s map is not the way in', async (t) => {
  const seen: Array<[string, unknown]> = []
  const sent = await varyAfter(t, (_q, res) => {
    const original = res.setHeader.bind(res)
    res.setHeader = (name: string, value: number | string | readonly string[]) => {
      seen.push([name, value])
      return original(name, value)
    }
    appendOwnVary(res, 'Origin')
    appendOwnVary(res, 'Accept-Encoding')
  })
  t.equal(sent, 'Origin, Accept-Encoding')
  t.same(seen, [
    ['vary', 'Origin'],
    ['vary', 'Origin, Accept-Encoding'],
  ])
})

import t, { type Test } from 'tap'
import type { RawHandler } from '../../lib/index.js'
import { appendVary, singleHeader } from '../../lib/core.js'
import { isQuotedStringSafe } from '../../lib/core/headers.js'
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

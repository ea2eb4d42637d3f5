import t from 'tap'
import { mediaTypeQuality, parseQualityList } from '../../lib/core.js'

t.test('parseQualityList(): values, weights and order', async (t) => {
  t.same(parseQualityList('br;q=1.0, GZIP ; q=0.5,*;q=0'), [
    { value: 'br', q: 1, order: 0 },
    { value: 'gzip', q: 0.5, order: 1 },
    { value: '*', q: 0, order: 2 },
  ])
  t.same(parseQualityList('text/html;level=1;q=0.7'), [{ value: 'text/html', q: 0.7, order: 0 }])
  t.same(parseQualityList(undefined), [])
  t.same(parseQualityList(' , ,'), [])
})

t.test('parseQualityList(): drops entries whose weight is malformed rather than guess', async (t) => {
  for (const bad of ['gzip;q=2', 'gzip;q=1.5', 'gzip;q=0.1234', 'gzip;q=abc', 'gzip;q=', 'gzip;q=-0', 'gzip;q=.5']) {
    t.same(parseQualityList(bad), [], bad)
  }
  t.same(parseQualityList('gzip;q=0.')[0]?.q, 0)
  t.same(parseQualityList('gzip;Q=0.250')[0]?.q, 0.25)
})

t.test('parseQualityList(): reads a bounded number of entries', async (t) => {
  t.equal(parseQualityList(Array.from({ length: 10_000 }, (_, i) => `e${i}`).join(',')).length, 64)
  t.equal(parseQualityList('a,b,c', 2).length, 2)
})

t.test('mediaTypeQuality(): the most specific range decides', async (t) => {
  t.equal(mediaTypeQuality(undefined, 'application/json'), 1)
  t.equal(mediaTypeQuality('', 'application/json'), 1)
  t.equal(mediaTypeQuality('application/json', 'application/json'), 1)
  t.equal(mediaTypeQuality('text/*;q=0.5, */*;q=0.1', 'text/plain'), 0.5)
  t.equal(mediaTypeQuality('text/*;q=0.5, */*;q=0.1', 'application/json'), 0.1)
  t.equal(mediaTypeQuality('text/plain;q=0, text/*', 'text/plain'), 0)
  t.equal(mediaTypeQuality('text/html', 'application/json'), 0)
})

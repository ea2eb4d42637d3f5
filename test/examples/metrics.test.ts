import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js'

t.test('docs metrics example: route templates, your counter, refusals by code, compressed bytes', async (t) => {
  const example = await runExample(t, 'metrics.ts')
  const gzip = { headers: { 'accept-encoding': 'gzip' } }
  const users = [await httpRequest(`${example.url}/users/1`, gzip), await httpRequest(`${example.url}/users/2`, gzip)]
  t.equal(users[0]!.headers['content-encoding'], 'gzip')
  t.equal((await httpRequest(`${example.url}/signup`, { method: 'POST' })).status, 201)
  t.equal((await httpRequest(`${example.url}/nope/123`)).status, 404)
  t.equal((await httpRequest(`${example.url}/nope/456`)).status, 404)
  t.equal((await httpRequest(`${example.url}/users/3`)).status, 429, 'the sixth request is over the limit')
  const scrape = await httpRequest(`${example.url}/metrics`)
  t.match(scrape.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const families = parsePrometheus(scrape.text)
  const requests = (labels: Record<string, string>) => sampleValue(families, 'http_requests_total', labels)
  t.equal(requests({ method: 'GET', route: '/users/:id', status: '2xx' }), 2)
  t.equal(requests({ method: 'POST', route: 'unmatched', status: '2xx' }), 1)
  // Two raw paths, one label; and the 429: refused before the router named its route.
  t.equal(requests({ method: 'GET', route: 'unmatched', status: '4xx' }), 3)
  t.equal(requests({ method: 'GET', route: '/users/:id', status: '4xx' }), undefined)
  t.equal(sampleValue(families, 'signups_total'), 1)
  t.equal(sampleValue(families, 'http_refusals_total', { code: 'too_many_requests' }), 1)
  t.equal(sampleValue(families, 'http_requests_in_flight'), 1, 'the scrape itself')
  const sent = users.reduce((sum, r) => sum + r.body.length, 0)
  const counted = sampleValue(families, 'http_response_bytes_total', { route: '/users/:id', status: '2xx' })!
  t.ok(counted > sent && counted < sent + 1000, `compressed bodies plus headers: ${counted} for ${sent} body bytes`)
})

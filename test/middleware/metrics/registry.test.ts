import t from 'tap'
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from '../../../lib/index.js'
import { httpRequest } from '../../helpers/http.js'
import { parsePrometheus, sampleValue } from '../../helpers/prometheus.js'
import { serve } from '../../helpers/serve.js'

t.test('parsePrometheus (test helper): refuses what the 0.0.4 grammar forbids', async (t) => {
  const bad = [
    'a 1', // no final line feed
    'a{b="x} 1\n', // unterminated value
    'a{b="x\\t"} 1\n', // an escape the format does not have
    'a{b="x"}1\n', // no space before the value
    'a one\n',
    '# TYPE a counter\n# TYPE a counter\na 1\n',
    '# TYPE a blob\n',
    'a 1\nb 1\na 2\n', // family not contiguous
    'a{x="1"} 1\na{x="1"} 2\n', // series twice
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
    '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', // +Inf ≠ count
    '# comment\n',
  ]
  for (const text of bad) t.throws(() => parsePrometheus(text), JSON.stringify(text))
  const good = parsePrometheus('# HELP a x\\\\y\\nz\n# TYPE a counter\na{b="q\\"\\\\\\n",c=""} +Inf\n')
  t.same(good.get('a')?.samples[0]?.labels, { b: 'q"\\\n', c: '' })
  t.equal(good.get('a')?.help, 'x\\y\nz')
})

t.test('MetricsRegistry: counters, gauges and histograms render as valid text format 0.0.4', async (t) => {
  const registry = new MetricsRegistry()
  const jobs = registry.counter('jobs_total', 'Jobs run,\nby queue \\ kind.', ['queue'])
  const depth = registry.gauge('queue_depth', 'Jobs waiting.')
  const latency = registry.histogram('job_seconds', 'Job time.', ['queue'], [0.1, 1])
  jobs.inc({ queue: 'emails' })
  jobs.inc({ queue: 'emails' }, 2)
  jobs.inc({ queue: 'say "hi"\\\nnow' })
  depth.set(undefined, 7)
  depth.inc(undefined, -2)
  for (const v of [0.05, 0.1, 0.5, 3]) latency.observe({ queue: 'emails' }, v)
  const text = registry.render()
  const families = parsePrometheus(text)
  t.same([...families.keys()], ['jobs_total', 'queue_depth', 'job_seconds'])
  t.equal(families.get('jobs_total')?.help, 'Jobs run,\nby queue \\ kind.')
  t.equal(families.get('jobs_total')?.type, 'counter')
  t.equal(sampleValue(families, 'jobs_total', { queue: 'emails' }), 3)
  t.equal(sampleValue(families, 'jobs_total', { queue: 'say "hi"\\\nnow' }), 1, 'escaped and read back')
  t.match(text, /^jobs_total\{queue="say \\"hi\\"\\\\\\nnow"\} 1$/m)
  t.equal(sampleValue(families, 'queue_depth'), 5)
  t.equal(families.get('job_seconds')?.type, 'histogram')
  t.equal(sampleValue(families, 'job_seconds_bucket', { le: '0.1' }), 2, 'le is inclusive')
  t.equal(sampleValue(families, 'job_seconds_bucket', { le: '1' }), 3, 'cumulative')
  t.equal(sampleValue(families, 'job_seconds_bucket', { le: '+Inf' }), 4)
  t.equal(sampleValue(families, 'job_seconds_count'), 4)
  t.equal(sampleValue(families, 'job_seconds_sum'), 3.65)
})

t.test('MetricsRegistry: refuses bad names, clashing names, wrong labels and a negative counter step', async (t) => {
  const registry = new MetricsRegistry()
  registry.counter('a_total', 'A.', ['x'])
  t.throws(() => registry.counter('a_total', 'again'), /already registered/)
  t.throws(() => registry.counter('2bad', 'x'), /must match/)
  t.throws(() => registry.counter('b', 'x', ['le']), /label name "le" is not allowed/)
  t.throws(() => registry.counter('c', 'x', ['__x']), /not allowed/)
  t.throws(() => registry.histogram('h', 'x', [], [1, 1]), /increasing order/)
  registry.histogram('h', 'H.')
  t.throws(
    () => registry.counter('h_count', 'x'),
    /"h_count" is already registered/,
    "a histogram's sample names are taken",
  )
  const c = registry.counter('d_total', 'D.', ['x'])
  t.throws(() => c.inc({}), /label "x" needs a string value/)
  t.throws(() => c.inc({ x: '1', y: '2' }), /labels must be exactly/)
  t.throws(() => c.inc({ x: '1' }, -1), /must be ≥ 0/)
})

t.test('MetricsRegistry: a family keeps at most maxSeries series; new label values are dropped', async (t) => {
  const registry = new MetricsRegistry()
  const c = registry.counter('e_total', 'E.', ['user'], 3)
  for (let i = 0; i < 100; i++) c.inc({ user: `u${i}` })
  c.inc({ user: 'u0' })
  const families = parsePrometheus(registry.render())
  t.equal(families.get('e_total')?.samples.length, 3)
  t.equal(sampleValue(families, 'e_total', { user: 'u0' }), 2, 'existing series still count')
})

t.test('MetricsRegistry: handler answers GET and HEAD with the text format, 405 otherwise', async (t) => {
  const registry = new MetricsRegistry()
  registry.gauge('up', 'Up.').set(undefined, 1)
  const url = await serve(t, registry.handler)
  const get = await httpRequest(url)
  t.equal(get.status, 200)
  t.equal(get.headers['content-type'], PROMETHEUS_CONTENT_TYPE)
  t.equal(get.headers['cache-control'], 'no-store')
  t.equal(sampleValue(parsePrometheus(get.text), 'up'), 1)
  const head = await httpRequest(url, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.body.length, 0)
  t.equal(Number(head.headers['content-length']), get.body.length)
  const post = await httpRequest(url, { method: 'POST' })
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
})

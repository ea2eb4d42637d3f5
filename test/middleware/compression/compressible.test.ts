import t from 'tap'
import {
  compileMediaTypeFilter,
  compressibleTypes,
  mediaTypeOf,
} from '../../../lib/middleware/compression/compressible.js'

t.test('compileMediaTypeFilter(): the default list takes text, structured suffixes and known types only', async (t) => {
  const isCompressible = compileMediaTypeFilter('compression', 'types', compressibleTypes)
  for (const type of [
    'text/html',
    'text/css',
    'text/event-stream',
    'application/json',
    'application/ld+json',
    'application/problem+json',
    'image/svg+xml',
    'application/atom+xml',
    'application/javascript',
    'application/wasm',
    'font/ttf',
    'application/x-ndjson',
    'application/vnd.api+json',
    'image/bmp',
  ]) {
    t.ok(isCompressible(type), type)
  }
  for (const type of [
    'image/png',
    'image/jpeg',
    'image/webp',
    'image/avif',
    'audio/mpeg',
    'video/mp4',
    'application/zip',
    'application/gzip',
    'application/x-7z-compressed',
    'font/woff',
    'font/woff2',
    'application/octet-stream',
    'application/pdf',
    'application/jsonx',
    'textual/plain',
    'application/json+zip',
    '',
  ]) {
    t.notOk(isCompressible(type), type || 'empty')
  }
})

t.test('compileMediaTypeFilter(): exact, type/*, */*+suffix and anchored RegExp patterns', async (t) => {
  const f = compileMediaTypeFilter('x', 'types', [
    'Application/Foo',
    'model/*',
    '*/*+cbor',
    /^application\/vnd\.acme\.[a-z]+$/,
  ])
  t.ok(f('application/foo'))
  t.ok(f('model/gltf+json'))
  t.ok(f('application/thing+cbor'))
  t.ok(f('application/vnd.acme.report'))
  t.notOk(f('application/foobar'))
  t.notOk(f('application/vnd.acme.report2'))
  t.notOk(f('application/cbor'))
  t.notOk(compileMediaTypeFilter('x', 'types', [])('text/plain'), 'an empty list compresses nothing')
})

t.test('compileMediaTypeFilter(): config: refuses patterns it cannot read', async (t) => {
  for (const pattern of ['json', 'text/', '*/json', 'text/**', '', 42, null]) {
    t.throws(
      () => compileMediaTypeFilter('compression', 'types', [pattern as string]),
      {
        name: 'ConfigError',
        message: /^compression\(\): option "types" must be patterns such as "text\/\*"/,
      },
      String(pattern),
    )
  }
  for (const pattern of [/json/, /^json/, /json$/, /^a$/g, /^a$/y]) {
    t.throws(
      () => compileMediaTypeFilter('compression', 'types', [pattern]),
      { name: 'ConfigError', message: /anchored RegExp/ },
      String(pattern),
    )
  }
})

t.test('mediaTypeOf(): bare, lower-cased, parameters dropped', async (t) => {
  t.equal(mediaTypeOf('Text/HTML; charset=utf-8'), 'text/html')
  t.equal(mediaTypeOf('  application/json  '), 'application/json')
  t.equal(mediaTypeOf(undefined), '')
  t.equal(mediaTypeOf(12), '')
  t.equal(mediaTypeOf(['text/html']), '')
})

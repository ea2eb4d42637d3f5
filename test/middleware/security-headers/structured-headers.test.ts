import t from 'tap'
import {
  compilePermissionsPolicy,
  compileReportingEndpoints,
} from '../../../lib/middleware/security-headers/structured-headers.js'

const policy = (value: unknown) => compilePermissionsPolicy('permissionsPolicy', value)
const endpoints = (value: unknown) => compileReportingEndpoints('reportingEndpoints', value)

t.test('compilePermissionsPolicy(): a structured-field dictionary of inner lists', async (t) => {
  t.equal(
    policy({
      camera: [],
      geolocation: ['self', 'https://a.example'],
      displayCapture: ['self'],
      fullscreen: ['*'],
      'publickey-credentials-get': ['https://*.example.com', 'http://localhost:8080'],
    }),
    'camera=(), geolocation=(self "https://a.example"), display-capture=(self), fullscreen=*, publickey-credentials-get=("https://*.example.com" "http://localhost:8080")',
  )
})

t.test('compilePermissionsPolicy(): config: feature names are structured-field keys, given once', async (t) => {
  t.throws(() => policy({ 'Camera!': [] }), {
    name: 'ConfigError',
    option: 'permissionsPolicy.Camera!',
    message:
      /must be a feature name \(lower-case letters, digits, "-", "_", "\.", or camelCase for the "-"\); received "Camera!"/,
  })
  t.throws(() => policy({ displayCapture: [], 'display-capture': ['self'] }), {
    message:
      /"permissionsPolicy\.display-capture" must be given once.*"display-capture" and "display-capture" name the same feature/,
  })
})

t.test('compilePermissionsPolicy(): config: allowlists hold self, * or origins', async (t) => {
  t.throws(() => policy({ camera: 'self' }), {
    name: 'ConfigError',
    message:
      /"permissionsPolicy\.camera" must be a list of allowed origins; received "self" \(string\)\. Write \[\] for no one/,
  })
  t.throws(() => policy({ camera: ["'self'"] }), {
    message: /received "'self'" \(string\)\. Write self without quotes \(this is not CSP\)\./,
  })
  t.throws(() => policy({ camera: ["'none'"] }), { message: /An empty list, \[\], allows no one\./ })
  t.throws(() => policy({ camera: ['https://a.example/path'] }), {
    message:
      /must be "self", "\*" or an origin such as "https:\/\/a\.example"; received "https:\/\/a\.example\/path" \(string\)\. An allowlist holds origins, without path: write "https:\/\/a\.example"\./,
  })
  t.throws(() => policy({ camera: ['a.example'] }), { message: /received "a\.example" \(string\)\.$/ })
  t.throws(() => policy({ camera: ['https://a"b.example'] }), { message: /received "https:\/\/a\\"b\.example"/ })
  t.throws(() => policy({ camera: ['ftp://a.example'] }), { message: /received "ftp:\/\/a\.example"/ })
  t.throws(() => policy({ camera: [7] }), { message: /received 7 \(number\)/ })
  t.throws(() => policy({ camera: ['*', 'self'] }), {
    message: /must be "\*" alone; received "\* self".*Remove the other entries/,
  })
})

t.test('compilePermissionsPolicy(): config: an object with at least one feature', async (t) => {
  t.throws(() => policy({}), { message: /"permissionsPolicy" must be at least one feature.*set it to false/ })
  t.throws(() => policy(['camera']), {
    message: /"permissionsPolicy" must be an object of features → allowlists, or false/,
  })
})

t.test('compileReportingEndpoints(): names and URL strings, names listed', async (t) => {
  t.same(endpoints({ csp: 'https://r.example/csp?x=1', default: '/reports', local: 'http://127.0.0.1:9/r' }), {
    value: 'csp="https://r.example/csp?x=1", default="/reports", local="http://127.0.0.1:9/r"',
    names: ['csp', 'default', 'local'],
  })
})

t.test('compileReportingEndpoints(): config: names, URLs, trustworthiness', async (t) => {
  t.throws(() => endpoints({ cspEndpoint: '/r' }), {
    name: 'ConfigError',
    option: 'reportingEndpoints.cspEndpoint',
    message:
      /must be named in lower-case letters.*received "cspEndpoint" \(string\)\. Rename it, e\.g\. "cspendpoint", and use that name in report-to\./,
  })
  t.throws(() => endpoints({ csp: 'http://r.example/csp' }), {
    message:
      /"reportingEndpoints\.csp" must be an https URL \(or http on localhost\), or a path on this origin; received "http:\/\/r\.example\/csp".*potentially trustworthy/,
  })
  t.throws(() => endpoints({ csp: '/a path' }), {
    message: /must be a URL \(visible ASCII, no quotes or backslashes\)/,
  })
  t.throws(() => endpoints({ csp: 'https://[x' }), {
    message: /"reportingEndpoints\.csp" must be a URL; received "https:\/\/\[x"/,
  })
  t.throws(() => endpoints({ csp: 42 }), { message: /received 42 \(number\)/ })
  t.throws(() => endpoints({}), { message: /must be at least one endpoint.*set it to false/ })
  t.throws(() => endpoints('https://r.example'), { message: /must be an object of endpoint names → URLs, or false/ })
})

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, request } from 'node:https'
import t from 'tap'
import { clientIdentity, clientIp } from '../../lib/index.js'
import { setClientIdentity, socketIp } from '../../lib/core.js'
import { requireProgram } from '../helpers/requirements.js'
import { listen, serve } from '../helpers/serve.js'
import { httpRequest } from '../helpers/http.js'

t.test('clientIp() and clientIdentity(): the socket without proxyHeaders, whatever headers say', async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (req, res) => {
    seen.push(clientIp(req), clientIdentity(req))
    res.end()
  })
  await httpRequest(url, {
    headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', host: 'app.example:8080' },
  })
  t.equal(seen[0], '127.0.0.1')
  t.same(seen[1], { ip: '127.0.0.1', scheme: 'http', host: 'app.example:8080', prefix: '', viaTrustedProxy: false })
})

t.test('setClientIdentity(): every later reader sees what proxyHeaders established', async (t) => {
  const seen: unknown[] = []
  const url = await serve(t, (req, res) => {
    setClientIdentity(req, {
      ip: '203.0.113.9',
      scheme: 'https',
      host: 'app.example',
      prefix: '/api',
      viaTrustedProxy: true,
    })
    seen.push(clientIp(req), clientIdentity(req).scheme)
    res.end()
  })
  await httpRequest(url)
  t.same(seen, ['203.0.113.9', 'https'])
})

t.test('socketIp(): canonical, cached per socket, empty when unknown', async (t) => {
  t.equal(socketIp(undefined), '')
  const fake = { remoteAddress: '::ffff:10.0.0.1' }
  t.equal(socketIp(fake as never), '10.0.0.1')
  fake.remoteAddress = '10.9.9.9'
  t.equal(socketIp(fake as never), '10.0.0.1', 'cached on the socket')
  t.equal(socketIp({ remoteAddress: undefined } as never), '')
})

t.test('clientIdentity(): a TLS connection is https', async (t) => {
  const openssl = requireProgram(t, 'openssl', 'the TLS client identity test (it makes a throwaway certificate)')
  if (!openssl) return
  const dir = t.testdir({})
  const made = spawnSync(
    openssl,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ],
    { stdio: 'ignore' },
  )
  t.equal(made.status, 0, 'certificate made')
  let scheme: string | undefined
  const server = createServer(
    { key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`) },
    (req, res) => {
      scheme = clientIdentity(req).scheme
      res.end()
    },
  )
  const { port } = await listen(t, server)
  await new Promise<void>((ok, fail) => {
    request({ host: '127.0.0.1', port, rejectUnauthorized: false }, (res) => {
      res.resume()
      res.on('end', ok)
    })
      .on('error', fail)
      .end()
  })
  t.equal(scheme, 'https')
})

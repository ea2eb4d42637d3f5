import fc from 'fast-check'
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import {
  clusterKeySlot,
  defineRedisScript,
  DOWN_MASTER_PROBE_MS,
  hashTagKey,
  isRedisClient,
  isValidKeyPrefix,
  redisCall,
  RedisBusyError,
  RedisGate,
  RedisTimeoutError,
  RedisUnavailableError,
  withTimeout,
} from '../../lib/stores/redis-client.js'
import { freePort, startRedis } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'
import { startClusterNode } from '../helpers/redis-cluster.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => {
  unhandled.push(reason)
})

/** The part of a key Redis Cluster hashes: between the first { and the next }, if non-empty. */
function hashedPart(key: string): string {
  const open = key.indexOf('{')
  if (open < 0) return key
  const close = key.indexOf('}', open + 1)
  return close < 0 || close === open + 1 ? key : key.slice(open + 1, close)
}

t.test('hashTagKey(): prefix{id}suffix, with braces and % in the id encoded', async (t) => {
  t.equal(hashTagKey('rl:', '10.0.0.1', ':f'), 'rl:{10.0.0.1}:f')
  t.equal(hashTagKey('s:', 'a}b{c%d'), 's:{a%7Db%7Bc%25d}')
  t.equal(hashTagKey('', ''), '{}')
})

t.test('hashTagKey(): the slot depends on the id alone, and distinct ids stay distinct', async (t) => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.constantFrom('', ':a', ':b}{'), (a, b, suffix) => {
      const ka = hashTagKey('p:', a, suffix)
      if (a !== '' && hashedPart(ka) !== hashedPart(hashTagKey('p:', a, ':other'))) return false
      return a === b || hashTagKey('p:', a, suffix) !== hashTagKey('p:', b, suffix)
    }),
    { numRuns: 500 },
  )
  t.pass()
})

t.test('isValidKeyPrefix(): printable, no braces or spaces, at most 64 characters', async (t) => {
  for (const ok of ['', 'rl:', 'app|v2~x:', 'x'.repeat(64)]) t.ok(isValidKeyPrefix(ok), ok)
  for (const bad of ['a{b', 'a}b', 'a b', 'x'.repeat(65), 'é', '\n', 5, undefined])
    t.notOk(isValidKeyPrefix(bad), String(bad))
})

t.test('isRedisClient(): duck-typed RedisClients only: a status and the four commands', async (t) => {
  const commands = { evalsha() {}, eval() {}, hgetall() {}, del() {} }
  t.ok(isRedisClient({ ...commands, status: 'ready' }))
  t.notOk(isRedisClient({ ...commands }), 'no status')
  t.notOk(isRedisClient({ ...commands, evalsha: undefined, status: 'ready' }), 'no evalsha')
  t.notOk(
    isRedisClient({ defineCommand() {}, status: 'ready' }),
    'ioredis-only defineCommand is not what the stores use',
  )
  t.notOk(isRedisClient({ status: 'ready' }))
  t.notOk(isRedisClient(null))
  t.notOk(isRedisClient('redis://'))
})

t.test('withTimeout(): passes a value or an error through, or rejects at the deadline', async (t) => {
  t.equal(await withTimeout(Promise.resolve(5), 50, 'x'), 5)
  await t.rejects(withTimeout(Promise.reject(new Error('nope')), 50, 'x'), /nope/)
  const late = new Promise((_ok, fail) => setTimeout(() => fail(new Error('too late')), 60))
  await t.rejects(withTimeout(late, 10, 'store(): op'), {
    name: 'RedisTimeoutError',
    code: 'ERR_REDIS_TIMEOUT',
    message: 'store(): op: no reply from Redis within 10 ms.',
  })
  await new Promise((ok) => setTimeout(ok, 80))
  t.same(unhandled, [], "the abandoned promise's late rejection is handled")
})

t.test('withTimeout(): its timer does not keep the process alive', async (t) => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const pending = withTimeout(new Promise(() => undefined), 60_000, 'x')
  pending.catch(() => undefined)
  t.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before)
})

t.test('redisCall(): a client that is reconnecting fails at once, sending nothing', async (t) => {
  const port = await freePort()
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50 })
  client.on('error', () => undefined)
  t.teardown(() => client.disconnect())
  await new Promise((ok) => client.once('reconnecting', ok))
  let sent = false
  const started = performance.now()
  await t.rejects(
    redisCall(
      client,
      () => {
        sent = true
        return client.ping()
      },
      { timeoutMs: 5000, what: 'test(): ping' },
    ),
    {
      name: 'RedisUnavailableError',
      code: 'ERR_REDIS_UNAVAILABLE',
      message: /test\(\): ping: Redis is not connected \(client status "reconnecting"\)/,
    },
  )
  t.notOk(sent)
  t.ok(performance.now() - started < 100)
})

t.test('redisCall(): a send() that throws becomes a rejection', async (t) => {
  const client = { status: 'ready' } as unknown as Redis
  await t.rejects(
    redisCall(
      client,
      () => {
        throw new Error('sync')
      },
      { timeoutMs: 10, what: 'x' },
    ),
    /sync/,
  )
})

t.test('defineRedisScript(): validates numberOfKeys', async (t) => {
  const fake = { status: 'ready', evalsha() {}, eval() {}, hgetall() {}, del() {} } as unknown as Redis
  t.throws(() => defineRedisScript(fake, 'return 1', -1), {
    name: 'TypeError',
    message: /numberOfKeys must be an integer ≥ 0; received -1/,
  })
})

const redis = await startRedis(t)
if (redis) {
  const commandCalls = async (client: Redis, command: string): Promise<number> => {
    const info = await client.info('commandstats')
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
  }

  t.test(
    'defineRedisScript(): EVAL once per connection, then EVALSHA; reloaded transparently after SCRIPT FLUSH',
    async (t) => {
      const client = redis.client()
      const admin = redis.client()
      const incr = defineRedisScript(client, "return redis.call('INCRBY', KEYS[1], ARGV[1])", 1)
      t.equal(await incr(['n'], [2]), 2)
      const evalsBefore = await commandCalls(admin, 'eval')
      const shasBefore = await commandCalls(admin, 'evalsha')
      for (let i = 0; i < 5; i++) await incr(['n'], [1])
      t.equal((await commandCalls(admin, 'evalsha')) - shasBefore, 5)
      t.equal(await commandCalls(admin, 'eval'), evalsBefore)
      await admin.script('FLUSH')
      t.equal(await incr(['n'], [1]), 8, 'NOSCRIPT answered by resending the script')
      t.equal(await commandCalls(admin, 'eval'), evalsBefore + 1)
    },
  )

  t.test('defineRedisScript(): defining a script twice is harmless; keys get the client keyPrefix', async (t) => {
    const client = redis.client({ keyPrefix: 'app:' })
    const lua = "return redis.call('SET', KEYS[1], ARGV[1])"
    const a = defineRedisScript(client, lua, 1)
    const b = defineRedisScript(client, lua, 1)
    await a(['k'], ['1'])
    await b(['k'], ['2'])
    t.equal(await redis.client().get('app:k'), '2')
    await t.rejects(a(['k', 'extra'], ['3']), { name: 'TypeError', message: /takes 1 keys; received 2/ })
  })

  t.test('redisCall(): a paused Redis times out within the deadline', async (t) => {
    const server = await startRedis(t)
    if (!server) return
    const client = server.client()
    await client.ping()
    server.pause()
    const started = performance.now()
    await t.rejects(
      redisCall(client, () => client.ping(), { timeoutMs: 100, what: 'x' }),
      RedisTimeoutError,
    )
    const waited = performance.now() - started
    t.ok(waited >= 95 && waited < 600, `waited ${Math.round(waited)} ms`)
    server.resume()
    t.equal(await client.ping(), 'PONG')
  })

  t.test(
    'redisCall() with a gate: while Redis is frozen, commands past maxInFlight fail at once, and only the capped ones run on wake',
    async (t) => {
      const server = await startRedis(t)
      if (!server) return
      const client = server.client()
      await client.ping()
      const gate = new RedisGate(5)
      const call = { timeoutMs: 100, what: 'test(): incr', gate }
      server.pause()
      let resumed = false
      t.teardown(() => {
        if (!resumed) server.resume()
      })
      const capped = Array.from({ length: 5 }, () => redisCall(client, () => client.incr('late'), call))
      t.equal(gate.inFlight, 5)
      let sent = false
      const started = performance.now()
      await t.rejects(
        redisCall(
          client,
          () => {
            sent = true
            return client.incr('late')
          },
          call,
        ),
        {
          name: 'RedisBusyError',
          code: 'ERR_REDIS_BUSY',
          message: 'test(): incr: 5 commands already await a reply from Redis; not sent.',
        },
      )
      t.notOk(sent, 'nothing sent past the cap')
      t.ok(performance.now() - started < 50, 'refused at once, not at the deadline')
      for (const pending of capped) await t.rejects(pending, RedisTimeoutError)
      t.equal(gate.inFlight, 5, 'timed out but still queued in Redis: still counted')
      for (let i = 0; i < 20; i++)
        await t.rejects(
          redisCall(client, () => client.incr('late'), call),
          RedisBusyError,
        )
      server.resume()
      resumed = true
      await until(() => gate.inFlight === 0)
      t.equal(gate.inFlight, 0, 'released as Redis answered')
      t.equal(await client.get('late'), '5', 'on wake Redis ran the 5 capped commands, not the 21 refused ones')
      t.equal(await redisCall(client, () => client.incr('late'), call), 6, 'and serves again')
    },
  )

  t.test('redisCall() with a gate: a send() that throws gives its slot back', async (t) => {
    const gate = new RedisGate(1)
    const call = { timeoutMs: 100, what: 'x', gate }
    await t.rejects(
      redisCall(
        redis.client(),
        () => {
          throw new Error('sync')
        },
        call,
      ),
      /sync/,
    )
    await until(() => gate.inFlight === 0)
    t.equal(gate.inFlight, 0)
  })

  t.test(
    'clusterKeySlot(): the slot Redis Cluster computes (CLUSTER KEYSLOT), hash tags included',
    { timeout: 60_000 },
    async (t) => {
      const port = await startClusterNode(t)
      if (port === undefined) return
      const node = new Redis({ port, host: '127.0.0.1' })
      t.teardown(() => node.disconnect())
      const keys = [
        '',
        'a',
        '123456789',
        '{user1000}.following',
        'foo{}{bar}',
        'foo{{bar}}zap',
        'foo{bar}{zap}',
        '{}',
        '}{',
        'ü{é}x',
        hashTagKey('rl:', 'api:10.0.0.1', ':f'),
        ...fc.sample(fc.string(), 40),
      ]
      for (const key of keys)
        t.equal(clusterKeySlot(key), Number(await node.call('CLUSTER', 'KEYSLOT', key)), JSON.stringify(key))
    },
  )

  t.test(
    'hashTagKey() on a Redis Cluster: keys of one id share a slot, so one script may use several',
    { timeout: 60_000 },
    async (t) => {
      const port = await startClusterNode(t)
      if (port === undefined) return
      const cluster = new Cluster([{ host: '127.0.0.1', port }])
      cluster.on('error', () => undefined)
      t.teardown(() => cluster.disconnect())
      await new Promise((ok) => cluster.once('ready', ok))
      const pair = defineRedisScript(
        cluster,
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1",
        2,
      )
      t.equal(await pair([hashTagKey('s:', 'user:42', ':data'), hashTagKey('s:', 'user:42', ':index')], ['x']), 1)
      await t.rejects(
        pair(['s:user:42:data', 's:user:42:index'], ['x']),
        /CROSSSLOT/,
        'untagged keys land in different slots',
      )
    },
  )

  t.test('no unhandled rejection', async (t) => {
    await new Promise((ok) => setTimeout(ok, 100))
    t.same(unhandled, [])
  })
}

t.test('RedisGate: a Cluster master seen down is refused until ready, but for one probe per interval', async (t) => {
  const gate = new RedisGate(10)
  const a = '127.0.0.1:7000'
  t.ok(gate.admits(a, 'wait', 0), 'a master not used yet (wait) is not known to be down')
  t.ok(gate.admits(a, 'connecting', 0))
  t.notOk(gate.admits(a, 'end', 1000), 'seen down: refused')
  t.notOk(
    gate.admits(a, 'wait', 1000 + DOWN_MASTER_PROBE_MS - 1),
    're-added by ioredis (wait) but not back: still refused',
  )
  t.ok(gate.admits(a, 'wait', 1000 + DOWN_MASTER_PROBE_MS), 'the probe of the next interval goes')
  t.notOk(gate.admits(a, 'connecting', 1000 + DOWN_MASTER_PROBE_MS + 1), 'one probe per interval')
  t.ok(gate.admits('127.0.0.1:7001', 'ready', 1001), 'each master on its own')
  t.ok(gate.admits(a, 'ready', 1002), 'ready again')
  t.ok(gate.admits(a, 'wait', 1003), 'and forgotten as down')
  for (const status of ['reconnecting', 'close', 'disconnecting'])
    t.notOk(new RedisGate(1).admits(a, status, 0), status)
})

t.test('RedisUnavailableError, RedisBusyError and RedisTimeoutError carry codes', async (t) => {
  t.equal(new RedisUnavailableError('x', 'end').code, 'ERR_REDIS_UNAVAILABLE')
  t.equal(
    new RedisUnavailableError('x', 'end', '127.0.0.1:7000').message,
    'x: the Cluster master of this key, 127.0.0.1:7000, is not connected (status "end").',
  )
  t.equal(new RedisBusyError('x', 3).code, 'ERR_REDIS_BUSY')
  t.equal(new RedisTimeoutError('x', 5).message, 'x: no reply from Redis within 5 ms.')
})

/**
 * rateLimit()'s cost: the memory store alone against bare node:http (goal: ≥ 0.95 of its
 * throughput), and the Redis store with ioredis auto-pipelining, on a redis-server this
 * process starts on a free loopback port (when `redis-server` is installed).
 *
 * The limits are far above what a run sends, so every answer is a 200 (the runner counts
 * other statuses as errors): this measures what counting costs, not what refusing costs.
 * Every request comes from 127.0.0.1, so all of them hit one key: the store's hot path.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import type { RequestListener } from 'node:http'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { rateLimit, redisStore, type RateLimitOptions } from '../../lib/index.js'
import { listen, routes, type Comparison, type Scenario } from '../common.js'

const LIMIT = 1_000_000_000

const limited = (options: RateLimitOptions = {}) =>
  listen(rateLimit({ limit: LIMIT, ...options })(routes) as RequestListener)

const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0

/** A throwaway redis-server on a free port, killed when this process exits. */
async function startRedisServer(): Promise<number> {
  const port = await new Promise<number>((ok, fail) => {
    const probe = createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => ok(port))
    })
  })
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  process.once('exit', () => child.kill('SIGKILL'))
  await new Promise<void>((ok, fail) => {
    let output = ''
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString()
      if (output.includes('Ready to accept connections')) ok()
    })
    child.once('exit', (code) => fail(new Error(`redis-server exited with ${code}: ${output}`)))
  })
  child.stdout!.resume()
  return port
}

export const scenarios: Record<string, Scenario> = {
  'rate-limit-memory': {
    description: 'rateLimit() with its default memory store (fixed window, key by address)',
    start: () => limited(),
  },
  'rate-limit-memory-token-bucket': {
    description: 'rateLimit() with the memory store, token bucket (GCRA)',
    start: () => limited({ algorithm: 'token-bucket' }),
  },
  'rate-limit-memory-penalty': {
    description: 'rateLimit() with the memory store and penalty: {} (every hit checks for a lockout)',
    start: () => limited({ penalty: {} }),
  },
  'rate-limit-redis': {
    description: 'rateLimit() with redisStore() on a local redis-server, ioredis auto-pipelining',
    async start() {
      const port = await startRedisServer()
      const client = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true })
      client.on('error', (err) => console.error(`redis: ${err.message}`))
      await client.ping()
      return limited({ store: redisStore({ client, commandTimeoutMs: 1000 }), algorithm: 'sliding-window' })
    },
  },
}

export const comparisons: Comparison[] = [
  {
    name: 'rateLimit: memory store vs bare node:http on a 1 KB JSON route',
    route: '/json',
    baseline: 'bare',
    scenarios: ['bare', 'rate-limit-memory', 'rate-limit-memory-token-bucket'],
  },
  {
    // The cost penalties add to every allowed hit: the lockout check. No refusals happen
    // (the runner counts a 429 as an error), so no offence is recorded.
    name: 'rateLimit penalties: memory store with penalty vs without, on a 1 KB JSON route',
    route: '/json',
    baseline: 'rate-limit-memory',
    scenarios: ['rate-limit-memory', 'rate-limit-memory-penalty'],
  },
  ...(hasRedis
    ? [
        {
          name: 'rateLimit: Redis store (auto-pipelining) vs bare node:http on a 1 KB JSON route',
          route: '/json',
          baseline: 'bare',
          scenarios: ['bare', 'rate-limit-redis'],
        },
      ]
    : []),
]

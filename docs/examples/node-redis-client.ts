// node-redis (or any other client) for the Redis stores: a few lines give it the shape of
// RedisClient, the commands the stores send (docs/middleware/rate-limit.md, "Other Redis clients").
import type { RedisArgument, RedisClient } from 'http-onion'

/** What the wrapper uses of a node-redis client (`createClient()` from 'redis', version 4 to 6). */
interface NodeRedis {
  readonly isReady: boolean
  readonly isOpen: boolean
  evalSha(sha: string, options: { keys: string[]; arguments: Array<string | Buffer> }): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: Array<string | Buffer> }): Promise<unknown>
  hGetAll(key: string): Promise<Record<string, string>>
  del(key: string): Promise<number>
}

export function fromNodeRedis(client: NodeRedis): RedisClient {
  // Scripts take keys, then arguments; node-redis wants them apart, and as strings or Buffers.
  const split = (numberOfKeys: number, keysAndArgs: RedisArgument[]) => {
    const text = keysAndArgs.map((v) => (typeof v === 'number' ? String(v) : v))
    return { keys: text.slice(0, numberOfKeys) as string[], arguments: text.slice(numberOfKeys) }
  }
  return {
    // node-redis reports open and ready; while open but not ready it is (re)connecting.
    get status() {
      return client.isReady ? 'ready' : client.isOpen ? 'reconnecting' : 'end'
    },
    evalsha: (sha, numberOfKeys, ...keysAndArgs) => client.evalSha(sha, split(numberOfKeys, keysAndArgs)),
    eval: (script, numberOfKeys, ...keysAndArgs) => client.eval(script, split(numberOfKeys, keysAndArgs)),
    hgetall: async (key) => ({ ...(await client.hGetAll(key)) }),
    del: (key) => client.del(key),
  }
}

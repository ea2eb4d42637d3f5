/**
 * A throwaway redis-server on a free loopback port, for tests of Redis stores, with the
 * faults the tests inject: kill (SIGKILL), pause (SIGSTOP) and resume, restart.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis, type RedisOptions } from 'ioredis'
import type { Test } from 'tap'
import { requireProgram } from './requirements.js'

export interface RedisServer {
  readonly port: number
  /** A new ioredis client for this server; closed when the test ends. */
  client(options?: RedisOptions): Redis
  /** SIGKILL the server (no clean shutdown, like a crash). */
  kill(): Promise<void>
  /** SIGSTOP: the server holds connections open but answers nothing. */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Start the server again on the same port (after kill()). */
  restart(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (redis-server cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => ok(port))
    })
  })
}

/** Start redis-server for `t`, or skip `t` loudly (fail under CI) when it is not installed. */
export async function startRedis(t: Test): Promise<RedisServer | undefined> {
  const binary = requireProgram(t, 'redis-server', 'the Redis store tests')
  if (!binary) return undefined
  const port = await freePort()
  let child: ChildProcess | undefined
  const clients: Redis[] = []

  const launch = async () => {
    const started = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child = started
    await new Promise<void>((ok, fail) => {
      let output = ''
      const onData = (d: Buffer) => {
        output += d.toString()
        if (output.includes('Ready to accept connections')) {
          started.stdout!.off('data', onData)
          ok()
        }
      }
      started.stdout!.on('data', onData)
      started.once('exit', (code) => fail(new Error(`redis-server exited with ${code}: ${output}`)))
    })
    started.stdout!.resume()
    started.stderr!.resume()
  }
  await launch()

  t.teardown(async () => {
    for (const client of clients) client.disconnect()
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await new Promise((ok) => child!.once('exit', ok))
    }
  })

  return {
    port,
    client(options = {}) {
      const client = new Redis({ port, host: '127.0.0.1', lazyConnect: false, ...options })
      client.on('error', () => undefined) // outages are what these tests are about
      clients.push(client)
      return client
    },
    async kill() {
      const current = child!
      if (current.exitCode !== null || current.signalCode !== null) return
      const exited = new Promise((ok) => current.once('exit', ok))
      current.kill('SIGCONT')
      current.kill('SIGKILL')
      await exited
    },
    pause() {
      child!.kill('SIGSTOP')
    },
    resume() {
      child!.kill('SIGCONT')
    },
    restart: launch,
  }
}

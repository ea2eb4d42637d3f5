/**
 * Run a docs example as its own process, the way a reader would, and talk to it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const preload = fileURLToPath(new URL('./example-preload.mjs', import.meta.url))
// Examples import 'http-onion' by name; this export condition resolves it to the sources
// (package.json "exports"), as tap's own node-arg does for the test processes.
const SOURCE_CONDITION = '--conditions=http-onion-source'
const nodeArgs = process.execArgv.includes(SOURCE_CONDITION)
  ? process.execArgv
  : [...process.execArgv, SOURCE_CONDITION]

/** A running example: its base URL and everything it printed so far. */
export interface RunningExample {
  readonly url: string
  readonly output: () => string
  /** The example's process, e.g. to signal it. */
  readonly process: ChildProcess
  /** Resolves once the output matches `pattern`. */
  waitForOutput(pattern: RegExp): Promise<string>
}

/** Start `docs/examples/<file>`; stopped when `t` ends. */
export async function runExample(t: Test, file: string, env: Record<string, string> = {}): Promise<RunningExample> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', preload, `docs/examples/${file}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let output = ''
  const waiters: Array<() => void> = []
  const collect = (d: Buffer) => {
    output += d.toString()
    for (const w of waiters.splice(0)) w()
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM')
  })
  const port = await new Promise<number>((ok, fail) => {
    child.on('message', (m: { type: string; port: number }) => {
      if (m.type === 'listening') ok(m.port)
    })
    child.once('exit', (code) => fail(new Error(`${file} exited with ${code} before listening:\n${output}`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    process: child,
    waitForOutput(pattern) {
      return new Promise((ok) => {
        const check = () => {
          const m = pattern.exec(output)
          if (m) ok(m[0])
          else waiters.push(check)
        }
        check()
      })
    },
  }
}

// What the peer stacks share: payloads and settings from the compiled benchmark common
// module, and a log sink file per server, so every stack logs the same way to the same kind of place.
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export { benchSettings, smallJson, largeJson, streamChunk, streamText, textStream } from '../../dist/benchmarks/common.js'

/** A fresh log file for one server process. */
export function logFile(name) {
  const dir = join(tmpdir(), 'http-onion-bench')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}-${process.pid}.log`)
  rmSync(file, { force: true })
  return file
}

/** `/stream?mb=N` → N (default 100). */
export const streamMegabytes = (url) => Number(/mb=(\d+)/.exec(url ?? '')?.[1] ?? 100)

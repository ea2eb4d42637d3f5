/** A fresh access-log file per benchmark server process, in the system's temporary directory. */
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function logFile(name: string): string {
  const dir = join(tmpdir(), 'http-onion-bench')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}-${process.pid}.log`)
  rmSync(file, { force: true })
  return file
}

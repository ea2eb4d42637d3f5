/**
 * A fresh access-log file per benchmark server process, in the system's temporary
 * directory, removed when the process exits: runs leave no logs behind.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function logFile(name: string): string {
  const dir = join(tmpdir(), 'http-onion-bench')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}-${process.pid}.log`)
  rmSync(file, { force: true })
  process.once('exit', () => rmSync(file, { force: true }))
  return file
}

/**
 * External programs some tests need (redis-server, chromium). Where one is missing the
 * test is skipped, saying loudly why; under CI (`HTTP_ONION_REQUIRE_ALL=1`, set by
 * .ci/run after installing them) a missing program fails the test instead.
 */
import { spawnSync } from 'node:child_process'
import type { Test } from 'tap'

/** The path of `program` on PATH or at one of `candidates`, or undefined. */
export function findProgram(program: string, candidates: readonly string[] = []): string | undefined {
  for (const path of candidates) if (spawnSync('test', ['-x', path]).status === 0) return path
  const which = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' })
  return which.status === 0 ? which.stdout.trim() : undefined
}

/** Returns the program's path, or skips `t` (fails it under CI) and returns undefined. */
export function requireProgram(
  t: Test,
  program: string,
  why: string,
  candidates: readonly string[] = [],
): string | undefined {
  const path = findProgram(program, candidates)
  if (path) return path
  const message = `${program} is not installed: ${why} cannot run. Install it (apt-get install ${program}); .ci/run does.`
  if (process.env.HTTP_ONION_REQUIRE_ALL === '1') t.fail(message)
  else {
    console.error(`SKIPPED: ${message}`)
    t.skip(message, () => undefined)
  }
  return undefined
}

/**
 * A full garbage collection from a test, without `--expose-gc` on the command line: memory
 * figures then compare live memory, not garbage earlier tests left for V8 to collect when it
 * pleases (dead zlib buffers of tens of MiB, freed in the middle of a later measurement).
 * @module
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collect garbage fully (twice: finalizers of the first pass free more). */
export function collectGarbage(): void {
  gc()
  gc()
}

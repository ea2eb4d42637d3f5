// What the peer stacks share: payloads and settings from the compiled benchmark common
// module, and a log sink file per server, so every stack logs the same way to the same kind of place.
export {
  benchSettings,
  smallJson,
  largeJson,
  streamChunk,
  streamText,
  textStream,
} from '../../dist/benchmarks/common.js'
export { logFile } from '../../dist/benchmarks/log-file.js'

/** `/stream?mb=N` → N (default 100). */
export const streamMegabytes = (url) => Number(/mb=(\d+)/.exec(url ?? '')?.[1] ?? 100)

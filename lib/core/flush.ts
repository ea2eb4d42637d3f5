/**
 * Buffers that hold output on its way out (an access log's queued lines, a stream's pending
 * writes) register here, so that whoever stops the process (the lifespan's graceful
 * shutdown) can push them out first without knowing, or importing, the middleware that owns
 * them. Held weakly: a stack built and dropped (one per test) leaves nothing behind.
 * @module
 */

/** Something holding output that can be pushed out on request. */
export interface Flushable {
  /** Hand everything buffered to its destination; resolves once it is there (or cannot be). Never rejects. */
  flush(): Promise<void>
}

// Process-wide on purpose: a shutdown flushes every buffer of the process, whichever stack
// owns it. One entry per buffer, weakly held, swept on each flush.
const registered = new Set<WeakRef<Flushable>>()

/** Register `buffer`, to be flushed by {@link flushAll} for as long as it is alive. */
export function registerFlushable(buffer: Flushable): void {
  registered.add(new WeakRef(buffer))
}

/**
 * Flush every registered buffer, in parallel; resolves when all are done. A buffer that
 * throws or rejects counts as done: a shutdown must go on.
 */
export async function flushAll(): Promise<void> {
  const pending: Promise<void>[] = []
  for (const ref of registered) {
    const buffer = ref.deref()
    if (buffer === undefined) {
      registered.delete(ref)
      continue
    }
    try {
      pending.push(buffer.flush().catch(ignore))
    } catch {
      // A flush that throws synchronously has nothing more to give.
    }
  }
  await Promise.all(pending)
}

function ignore(): void {}

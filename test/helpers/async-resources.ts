import { createHook } from 'node:async_hooks'
import type { Test } from 'tap'

/**
 * Counts the async resources the core makes for response-end listeners (one per listener
 * bound to its async context) from now until the test ends.
 */
export function countEndListenerResources(t: Test): { readonly count: number } {
  const made = { count: 0 }
  const hook = createHook({
    init(_id, type) {
      if (type === 'HTTP_ONION_RESPONSE_END') made.count++
    },
  }).enable()
  t.teardown(() => {
    hook.disable()
  })
  return made
}

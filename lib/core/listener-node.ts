/**
 * Per-request records as class instances, never object or array literals.
 *
 * V8 records an allocation site for every object and array literal. When most objects of
 * one site are still alive at a young-generation collection, V8 "pretenures" the site and
 * allocates its later objects straight in the old generation. A pretenured per-request
 * record that points at the request's young objects keeps them alive through every
 * scavenge until the next full collection, and they are promoted. The young objects then
 * survive too, so more sites get pretenured, and the process never recovers from this.
 * Under load this made the production stack promote ~4 KB per request and lose about half
 * its throughput (see docs/performance.md). Objects made by `new` of a class have no
 * allocation site and are never pretenured. Hence this list node instead of the flat
 * `[listener, context, …]` arrays the records used to hold.
 * @module
 */

/** One registered listener and its context: a link of a singly linked list. */
export class ListenerNode<L> {
  readonly listener: L
  readonly context: unknown
  next: ListenerNode<L> | undefined

  constructor(listener: L, context: unknown, next: ListenerNode<L> | undefined) {
    this.listener = listener
    this.context = context
    this.next = next
  }
}

/**
 * Checking declared ordering constraints over a flat list of layers. Order is a
 * security property (cors outside auth, proxy headers before anything reading the
 * client address), so `compose` runs this on every stack it builds.
 * @module
 */
import type { MiddlewareInfo } from './define.js'

/** One broken constraint: `outer` should wrap `inner`, but the stack has them the other way round. */
export interface OrderingViolation {
  /** The layer that must be outside, with its position (1-based) in the stack. */
  readonly outer: { readonly name: string; readonly position: number }
  /** The layer that must be inside, with its position (1-based) in the stack. */
  readonly inner: { readonly name: string; readonly position: number }
  readonly reason: string
  /** One sentence stating the problem and the fix. */
  readonly message: string
}

/** A constraint whose two layers are both in the stack, kept or broken. */
export interface CheckedRule {
  readonly outer: string
  readonly inner: string
  readonly reason: string
  readonly satisfied: boolean
}

/** Every constraint that applies to `infos` (both layers present), each marked kept or broken. */
export function checkOrdering(infos: readonly MiddlewareInfo[]): {
  rules: CheckedRule[]
  violations: OrderingViolation[]
} {
  const rules: CheckedRule[] = []
  const violations: OrderingViolation[] = []
  const seen = new Set<string>()

  const consider = (outerName: string, innerName: string, reason: string, declaredBy: number): void => {
    // The stack may hold several layers of one name (an IP rate limit outside auth and a
    // per-user one inside); the rule is about the layer that declared it.
    const positions = (name: string) => infos.flatMap((info, i) => (info.name === name ? [i] : []))
    const pairs =
      outerName === infos[declaredBy]!.name
        ? positions(innerName).map((inner) => [declaredBy, inner] as const)
        : positions(outerName).map((outer) => [outer, declaredBy] as const)
    for (const [outer, inner] of pairs) {
      const key = `${outer}>${inner}`
      if (seen.has(key)) continue
      seen.add(key)
      const satisfied = outer < inner
      rules.push({ outer: outerName, inner: innerName, reason, satisfied })
      if (!satisfied) {
        violations.push({
          outer: { name: outerName, position: outer + 1 },
          inner: { name: innerName, position: inner + 1 },
          reason,
          message:
            `${outerName} (layer ${outer + 1}) must wrap ${innerName} (layer ${inner + 1}) because ${reason}. ` +
            `Fix: list ${outerName}() before ${innerName}() in compose(...).`,
        })
      }
    }
  }

  infos.forEach((info, i) => {
    for (const rule of info.wraps ?? []) consider(info.name, rule.name, rule.reason, i)
    for (const rule of info.inside ?? []) consider(rule.name, info.name, rule.reason, i)
  })
  return { rules, violations }
}

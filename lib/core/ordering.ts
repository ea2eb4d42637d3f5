/**
 * Checking declared ordering constraints over a flat list of layers. Order is a
 * security property (cors outside auth, proxy headers before anything reading the
 * client address), so `compose` runs this on every stack it builds.
 * @module
 */
import { BUILT_IN_RULES, type BuiltInRule } from './built-ins.js'
import { isKnownLayerName, knownLayerNames, type MiddlewareInfo } from './define.js'
import { closest } from './options.js'

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

/**
 * Every constraint that applies to `infos` (both layers present), each marked kept or broken:
 * the built-in ones of {@link BUILT_IN_RULES}, then those the layers declare themselves.
 * They are listed layer by layer, outermost first; a pair is listed once however many
 * rules name it, with the reason of the first.
 */
export function checkOrdering(infos: readonly MiddlewareInfo[]): {
  rules: CheckedRule[]
  violations: OrderingViolation[]
} {
  const rules: CheckedRule[] = []
  const violations: OrderingViolation[] = []
  const seen = new Set<string>()

  // The stack may hold several layers of one name (an IP rate limit outside auth and a
  // per-user one inside): a rule pairs every layer it matches on one side with every one
  // on the other.
  const positions = (name: string, only?: BuiltInRule['only']) =>
    infos.flatMap((info, i) => (matches(info, name, only) ? [i] : []))

  const consider = (outer: number, inner: number, reason: string): void => {
    const key = `${outer}>${inner}`
    if (outer === inner || seen.has(key)) return
    seen.add(key)
    const outerName = infos[outer]!.name
    const innerName = infos[inner]!.name
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

  infos.forEach((info, i) => {
    for (const rule of RULES_BY_OUTER.get(info.name) ?? []) {
      if (!matches(info, rule.outer, rule.only)) continue
      for (const inner of positions(rule.inner, rule.only)) consider(i, inner, rule.reason)
    }
    for (const rule of info.wraps ?? []) for (const inner of positions(rule.name)) consider(i, inner, rule.reason)
    for (const rule of info.inside ?? []) for (const outer of positions(rule.name)) consider(outer, i, rule.reason)
  })
  return { rules, violations }
}

/**
 * One sentence for each constraint in `infos` that names a layer nobody has defined (no
 * built-in middleware, no `defineMiddleware` call so far): such a rule can never apply,
 * and is most likely a typo (`'jwtauth'`).
 */
export function unknownLayerNames(infos: readonly MiddlewareInfo[]): string[] {
  const messages: string[] = []
  for (const info of infos) {
    const declared = [
      ...(info.wraps ?? []).map((rule) => ['wraps', rule.name] as const),
      ...(info.inside ?? []).map((rule) => ['sits inside', rule.name] as const),
    ]
    for (const [relation, name] of declared) {
      if (isKnownLayerName(name)) continue
      const guess = closest(name, knownLayerNames())
      messages.push(
        `${info.name} declares that it ${relation} ${JSON.stringify(name)}, but no layer has that name ` +
          '(no built-in middleware, and no defineMiddleware() call so far), so the constraint never applies. ' +
          (guess
            ? `Did you mean ${JSON.stringify(guess)}?`
            : `Fix the name in ${info.name}'s defineMiddleware({ wraps, inside }).`),
      )
    }
  }
  return messages
}

// The table indexed by the outer layer's name, in table order.
const RULES_BY_OUTER = new Map<string, BuiltInRule[]>()
for (const rule of BUILT_IN_RULES) {
  const list = RULES_BY_OUTER.get(rule.outer)
  if (list) list.push(rule)
  else RULES_BY_OUTER.set(rule.outer, [rule])
}

/** True when `info` is a layer called `name`, of a variant `only` lists if it lists any for that name. */
function matches(info: MiddlewareInfo, name: string, only: BuiltInRule['only']): boolean {
  if (info.name !== name) return false
  const variants = only?.[name]
  return variants === undefined || (info.variant !== undefined && variants.includes(info.variant))
}

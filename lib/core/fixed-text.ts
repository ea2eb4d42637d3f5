/**
 * `value.toFixed(digits)` for the durations a response reports, without the call.
 * @module
 */

/** 10^digits for the digits served here. */
const SCALES = [1, 10, 100, 1000] as const
/** For each number of digits, the fraction of each count of units: '', '.0'…'.9', '.00'…'.99', '.000'…'.999'. */
const FRACTIONS: ReadonlyArray<readonly string[]> = SCALES.map((scale, digits) =>
  Array.from({ length: scale }, (_, units) => (digits === 0 ? '' : `.${String(units).padStart(digits, '0')}`)),
)

/**
 * The same text as `value.toFixed(digits)`. `toFixed` is a call into V8's C++ runtime (about
 * 0.2 µs a request on the production stack's route, where timing() formats one duration per
 * response); a duration of at most three decimals below 10^9 is put together here from its
 * whole part (text V8 keeps cached for small numbers) and a preformatted fraction. Values
 * within 10^-4 of a rounding tie, and everything else, go to `toFixed`, which rounds on the
 * exact binary value.
 */
export function fixedText(value: number, digits: number): string {
  if (digits <= 3 && value >= 0 && value < 1e9) {
    const scale = SCALES[digits]!
    const scaled = value * scale
    const units = Math.round(scaled)
    if (Math.abs(scaled - units) < 0.4999) {
      const whole = Math.floor(units / scale)
      return `${whole}${FRACTIONS[digits]![units - whole * scale]!}`
    }
  }
  return value.toFixed(digits)
}

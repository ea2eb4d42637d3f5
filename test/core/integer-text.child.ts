/** Child of integer-text.test.ts: formats distinct counts one way, amid young garbage. */
import { integerText } from '../../lib/core/integer-text.js'

const format = process.argv[2] === 'string' ? String : integerText
let next = 999_999_999
let checksum = 0

/**
 * What a request does here: ~8 KB of young garbage (a request through the stack makes about
 * 16), so a scavenge comes every couple of thousand requests, well within the 16,384 numbers
 * V8's cache keeps; and one count made into header text.
 */
function request(): void {
  const youngGarbage = new Array<number>(1000).fill(next)
  checksum += `r=${format(next--)};t=60`.length + youngGarbage.length
}

for (let i = 0; i < 20_000; i++) request() // warm up: optimised, and past the loader's own promotions
// Only the scavenges between the marks count.
process.stdout.write('churn:start\n')
for (let i = 0; i < 300_000; i++) request()
process.stdout.write('churn:end\n')
if (checksum === 0) process.exitCode = 1

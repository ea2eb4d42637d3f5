import t from 'tap'
import { isVouchedJsonSafe, vouchJsonSafe } from '../../lib/core/json-safe.js'

t.test('json-safe: only the last vouched string, compared by content', async (t) => {
  vouchJsonSafe('0193a1b2-c3d4-7e5f-8a9b-000000000001')
  t.ok(isVouchedJsonSafe('0193a1b2-c3d4-7e5f-8a9b-000000000001'))
  // Equal content built apart is the same value, and as safe.
  t.ok(isVouchedJsonSafe(['0193a1b2-c3d4-7e5f', '8a9b-000000000001'].join('-')))
  t.notOk(isVouchedJsonSafe('0193a1b2-c3d4-7e5f-8a9b-000000000002'))
  t.notOk(isVouchedJsonSafe('a"b'))
  vouchJsonSafe('next')
  t.notOk(isVouchedJsonSafe('0193a1b2-c3d4-7e5f-8a9b-000000000001'))
  t.ok(isVouchedJsonSafe('next'))
})

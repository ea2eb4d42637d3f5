import t from 'tap'
import { compose, getUserId, tryGetUserId, type Middleware } from '../../lib/index.js'
import { userIdState } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'

/** Stands in for an identity layer: the user named by `x-user`, if any. */
const identify: Middleware = (next) => (req, res) => {
  const user = req.headers['x-user']
  if (typeof user === 'string') userIdState.set(req, user)
  return next(req, res)
}

t.test('getUserId() / tryGetUserId(): read what an identity layer set; getUserId names what to mount', async (t) => {
  const url = await serve(
    t,
    compose(identify)((req, res) => {
      let got: string
      try {
        got = getUserId(req)
      } catch (err) {
        got = (err as Error).message
      }
      res.end(JSON.stringify({ got, tried: tryGetUserId(req) ?? null }))
    }),
  )
  t.same(await (await fetch(url, { headers: { 'x-user': 'u-1' } })).json(), { got: 'u-1', tried: 'u-1' })
  t.same(await (await fetch(url)).json(), {
    got: 'getUserId(): no userId on this request; mount an identity middleware (jwtAuth(), apiKey() or session()) before this handler.',
    tried: null,
  })
})

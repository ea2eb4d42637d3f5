import t from 'tap'
import { answerError } from '../../lib/core/answer-error.js'
import { compose, errorBoundary, HttpError, type Middleware } from '../../lib/index.js'
import { captureWarnings, until } from '../helpers/wait.js'
import { serve } from '../helpers/serve.js'

t.test('answerError(): an error caught elsewhere is answered as the boundary answers its own', async (t) => {
  const seen: number[] = []
  const answer = answerError(errorBoundary({ onError: (r) => void seen.push(r.status) }), 'test()')
  const url = await serve(t, (req, res) => {
    const err = req.url === '/gone' ? new HttpError(410, 'Moved away', { code: 'gone' }) : new Error('db at 10.0.0.5')
    answer(req, res, err)
  })
  const gone = await fetch(`${url}/gone`)
  t.equal(gone.status, 410)
  t.match(await gone.json(), { status: 410, code: 'gone', message: 'Moved away' })
  const failed = await fetch(`${url}/other`)
  t.equal(failed.status, 500)
  t.notMatch(await failed.text(), /10\.0\.0\.5/)
  t.same(seen, [410, 500])
})

t.test('answerError(): a falsy error becomes an Error with the given message', async (t) => {
  const messages: string[] = []
  const answer = answerError(
    errorBoundary({ onError: (r) => void messages.push((r.error as Error).message) }),
    'test()',
    'nothing was thrown',
  )
  const url = await serve(t, (req, res) => answer(req, res, undefined))
  t.equal((await fetch(url)).status, 500)
  t.same(messages, ['nothing was thrown'])
})

t.test('answerError(): a boundary that rejects is reported under the caller, never thrown', async (t) => {
  const warnings = captureWarnings(t)
  const failing: Middleware = () => async (_req, res) => {
    res.end('answered')
    throw new Error('boundary broke')
  }
  const answer = answerError(compose(failing), 'test()')
  const url = await serve(t, (req, res) => answer(req, res, new Error('x')))
  t.equal(await (await fetch(url)).text(), 'answered')
  await until(() => warnings.some((w) => /boundary broke/.test(w.message)))
  t.ok(warnings.some((w) => /test\(\)/.test(w.message) && /boundary broke/.test(w.message)))
})

t.test('answerError(): refuses what is not a middleware, naming the caller', async (t) => {
  t.throws(() => answerError({} as never, 'toX()'), {
    name: 'TypeError',
    message: /^toX\(\): expected a middleware such as errorBoundary\(\); received object\.$/,
  })
})

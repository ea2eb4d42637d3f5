import { AsyncLocalStorage } from 'node:async_hooks'
import t from 'tap'
import { onResponseEnd } from '../../lib/core.js'
import { accessLog, compose, hooks } from '../../lib/index.js'
import { openSocket } from '../helpers/raw.js'
import { serve } from '../helpers/serve.js'
import { silenceWarningOutput, tick, until } from '../helpers/wait.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

// What an app's context-aware logger does: a store set around the whole stack per request.
// Every end-of-exchange callback (accessLog's sink, hooks' teardown, a user listener) must
// log with the request's store, also when the client left before the answer.
t.test('end-of-exchange callbacks of a stack see the async context the request ran in', async (t) => {
  const als = new AsyncLocalStorage<string>()
  const seen: string[] = []
  const app = compose(
    accessLog({
      sink: (_line, entry) => {
        seen.push(`sink ${entry.outcome} ${als.getStore()}`)
      },
    }),
    hooks({
      teardown: (_req, _res, info) => {
        seen.push(`teardown ${info.outcome} ${als.getStore()}`)
      },
    }),
  )(async (req, res) => {
    await tick(1)
    onResponseEnd(res, (info) => {
      seen.push(`listener ${info.outcome} ${als.getStore()}`)
    })
    if (req.url === '/ok') res.end('ok')
    // '/gone': never answered; the client leaves.
  })
  let n = 0
  const url = await serve(t, (req, res) => als.run(`store ${++n} ${req.url}`, () => app(req, res)))

  await (await fetch(`${url}/ok`)).text()
  await until(() => seen.length === 3)
  const socket = await openSocket(url)
  socket.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n')
  await tick(20)
  socket.destroy()
  await until(() => seen.length === 6)
  t.same(seen, [
    'listener finished store 1 /ok',
    'teardown finished store 1 /ok',
    'sink finished store 1 /ok',
    'listener aborted store 2 /gone',
    'teardown aborted store 2 /gone',
    'sink aborted store 2 /gone',
  ])
})

import t from 'tap'
import {
  compose,
  errorBoundary,
  hooks,
  HttpError,
  sendError,
  type HooksOptions,
  type RawHandler,
} from '../../../lib/index.js'
import type { ResponseEndInfo } from '../../../lib/core.js'
import { openSocket, rawGet } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'
import { captureWarnings, silenceWarningOutput, tick, until } from '../../helpers/wait.js'
import { repeated, writeWithBackpressure } from '../../helpers/backpressure.js'

// Tests here cause warnings on purpose (misordered or risky stacks, HTTP/2's dropped status
// message): their output stays out of the run's, restored when this file's tests end.
silenceWarningOutput(t)

t.test('hooks(): before, handler, after and teardown run in that order', async (t) => {
  const order: string[] = []
  let info: ResponseEndInfo | undefined
  const url = await serve(
    t,
    compose(
      hooks({
        before: () => {
          order.push('before')
        },
        after: (_req, res) => {
          order.push('after')
          res.setHeader('x-after', String(res.statusCode))
        },
        teardown: (_req, _res, i) => {
          order.push('teardown')
          info = i
        },
      }),
    )((_req, res) => {
      order.push('handler')
      res.statusCode = 201
      res.end('made')
    }),
  )
  const res = await rawGet(url)
  t.equal(res.status, 201)
  t.equal(res.headers['x-after'], '201')
  await until(() => order.length === 4)
  t.same(order, ['before', 'handler', 'after', 'teardown'])
  t.equal(info?.outcome, 'finished')
  t.equal(info?.status, 201)
})

t.test('hooks(): a before hook that answers stops the chain; after hooks still see its answer', async (t) => {
  let handlerRan = false
  const url = await serve(
    t,
    compose(
      hooks({
        before: [
          (req, res) => {
            if (req.url === '/blocked') sendError(req, res, new HttpError(403, 'Not here'))
          },
          () => {
            throw new Error('the second before never runs for /blocked')
          },
        ],
        after: (_req, res) => res.setHeader('x-after', 'ran'),
      }),
    )((_req, res) => {
      handlerRan = true
      res.end('handler')
    }),
  )
  const res = await rawGet(url, '/blocked')
  t.equal(res.status, 403)
  t.equal(res.headers['x-after'], 'ran')
  t.equal(handlerRan, false)
})

t.test('hooks(): async before hooks are awaited in order; one answering stops the rest', async (t) => {
  const order: string[] = []
  const url = await serve(
    t,
    compose(
      hooks({
        before: [
          async () => {
            await tick(5)
            order.push('one')
          },
          async (req, res) => {
            await tick(5)
            order.push('two')
            if (req.url === '/stop') res.end('stopped by two')
          },
          () => {
            order.push('three')
          },
        ],
      }),
    )((_req, res) => {
      order.push('handler')
      res.end('handler')
    }),
  )
  t.equal((await rawGet(url)).body.toString(), 'handler')
  t.same(order, ['one', 'two', 'three', 'handler'])
  order.length = 0
  t.equal((await rawGet(url, '/stop')).body.toString(), 'stopped by two')
  t.same(order, ['one', 'two'])
})

t.test('hooks(): the chain stops when the client left during an async before hook', async (t) => {
  let handlerRan = false
  let started = false
  let finished = false
  const before = async () => {
    started = true
    await tick(40)
    finished = true
  }
  const url = await serve(
    t,
    compose(hooks({ before }))((_req, res) => {
      handlerRan = true
      res.end()
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => started)
  socket.destroy()
  await until(() => finished)
  await tick(10)
  t.equal(handlerRan, false)
})

t.test('hooks(): several after hooks run in reverse registration order, within and across layers', async (t) => {
  const order: string[] = []
  const mark = (name: string) => () => {
    order.push(name)
  }
  const url = await serve(
    t,
    compose(
      hooks({ after: [mark('outer 1'), mark('outer 2')] }),
      hooks({ after: [mark('inner 1'), mark('inner 2')] }),
    )((_req, res) => res.end()),
  )
  await rawGet(url)
  t.same(order, ['inner 2', 'inner 1', 'outer 2', 'outer 1'])
})

t.test('hooks(): after hooks change status and headers of every answer, writeHead with headers included', async (t) => {
  const url = await serve(
    t,
    compose(
      hooks({
        after: (_req, res) => {
          res.setHeader('x-seen', String(res.getHeader('x-given') ?? 'none'))
          if (res.statusCode === 201) res.statusCode = 202
        },
      }),
    )((req, res) => {
      if (req.url === '/writehead') res.writeHead(201, { 'x-given': 'yes' }).end()
      else if (req.url === '/204') {
        res.statusCode = 204
        res.end()
      } else if (req.url === '/304') {
        res.statusCode = 304
        res.end()
      } else res.end()
    }),
  )
  const made = await rawGet(url, '/writehead')
  t.equal(made.status, 202)
  t.equal(made.headers['x-seen'], 'yes')
  t.equal((await rawGet(url, '/204')).headers['x-seen'], 'none')
  t.equal((await rawGet(url, '/304')).status, 304)
  t.equal((await rawGet(url, '/')).body.length, 0)
  const head = await rawGet(url, '/', 'HEAD')
  t.equal(head.headers['x-seen'], 'none')
})

t.test('hooks(): an after hook that throws stops the headers and reaches the error boundary', async (t) => {
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      hooks({
        after: (_req, res) => {
          if (res.statusCode === 200) throw new Error('after failed')
        },
      }),
    )((_req, res) => res.end('never sent')),
  )
  const res = await rawGet(url)
  t.equal(res.status, 500)
  t.notOk(res.body.toString().includes('never sent'))
})

t.test('hooks(): teardown runs once on abort, with outcome aborted', async (t) => {
  const infos: ResponseEndInfo[] = []
  const url = await serve(
    t,
    compose(
      hooks({
        teardown: (_q, _r, info) => {
          infos.push(info)
        },
      }),
    )((_req, res) => {
      res.write('partial')
    }),
  )
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise((ok) => socket.once('data', ok))
  socket.destroy()
  await until(() => infos.length > 0)
  await tick(10)
  t.equal(infos.length, 1)
  t.equal(infos[0]!.outcome, 'aborted')
})

t.test('hooks(): teardown runs after a handler that threw, once the boundary answered', async (t) => {
  const infos: ResponseEndInfo[] = []
  const url = await serve(
    t,
    compose(
      errorBoundary({ onError: () => undefined }),
      hooks({
        teardown: (_q, _r, info) => {
          infos.push(info)
        },
      }),
    )(() => {
      throw new Error('boom')
    }),
  )
  t.equal((await rawGet(url)).status, 500)
  await until(() => infos.length > 0)
  t.equal(infos.length, 1)
  t.equal(infos[0]!.status, 500)
})

t.test('hooks(): teardown receives the error the handler raised, whichever layer answered it', async (t) => {
  const boom = new Error('boom')
  const handlers: Record<string, RawHandler> = {
    sync: () => {
      throw boom
    },
    async: async () => {
      await tick(1)
      throw boom
    },
  }
  // Where the error is answered: a boundary outside hooks, one inside it, or none (the
  // server's own catch destroys the response).
  const stacks: Record<string, (teardown: HooksOptions['teardown']) => (h: RawHandler) => RawHandler> = {
    'boundary outside': (teardown) => compose(errorBoundary({ onError: () => undefined }), hooks({ teardown })),
    'boundary inside': (teardown) => compose(hooks({ teardown }), errorBoundary({ onError: () => undefined })),
    'no boundary': (teardown) => compose(hooks({ teardown })),
  }
  for (const [where, stack] of Object.entries(stacks)) {
    for (const [how, handler] of Object.entries(handlers)) {
      const got: unknown[] = []
      const url = await serve(
        t,
        stack((_q, _r, _info, error) => {
          got.push(error)
        })(handler),
      )
      const answer = await rawGet(url).catch(() => undefined)
      if (where === 'no boundary') t.not(answer?.status, 200, `${where}, ${how}: the connection was cut`)
      else t.equal(answer?.status, 500, `${where}, ${how}: answered`)
      await until(() => got.length > 0)
      t.equal(got[0], boom, `${where}, ${how}: teardown has the error`)
    }
  }
})

t.test('hooks(): teardown gets no error for a handler that succeeded, or one that refused by answering', async (t) => {
  const got: unknown[] = []
  const url = await serve(
    t,
    compose(
      errorBoundary(),
      hooks({
        teardown: (_q, _r, _info, error) => {
          got.push(error)
        },
      }),
    )((req, res) => {
      if (req.url === '/refuse') sendError(req, res, new HttpError(403))
      else res.end('ok')
    }),
  )
  t.equal((await rawGet(url)).status, 200)
  t.equal((await rawGet(url, '/refuse')).status, 403)
  await until(() => got.length === 2)
  t.same(got, [undefined, undefined])
})

t.test('hooks(): the Flask pattern: commit on success, roll back on error', async (t) => {
  const log: string[] = []
  const app = compose(
    errorBoundary({ onError: () => undefined }),
    hooks({
      before: (req) => {
        log.push(`begin ${req.url}`)
      },
      teardown: (req, _res, _info, error) => {
        log.push(error === undefined ? `commit ${req.url}` : `rollback ${req.url}: ${(error as Error).message}`)
      },
    }),
  )(async (req, res) => {
    await tick(1)
    if (req.url === '/fail') throw new Error('constraint violated')
    res.end('saved')
  })
  const url = await serve(t, app)
  t.equal((await rawGet(url, '/ok')).status, 200)
  await until(() => log.length === 2)
  t.equal((await rawGet(url, '/fail')).status, 500)
  await until(() => log.length === 4)
  t.same(log, ['begin /ok', 'commit /ok', 'begin /fail', 'rollback /fail: constraint violated'])
})

t.test('hooks(): teardown errors and rejections are reported, never thrown; later teardowns still run', async (t) => {
  const seen = captureWarnings(t)
  const ran: string[] = []
  const url = await serve(
    t,
    compose(
      hooks({
        teardown: [
          () => {
            throw new Error('close failed')
          },
          async () => {
            throw new Error('flush failed')
          },
          () => {
            ran.push('third')
          },
        ],
      }),
    )((_req, res) => res.end('fine')),
  )
  t.equal((await rawGet(url)).body.toString(), 'fine')
  await until(() => ran.length > 0 && seen.length >= 2)
  t.same(ran, ['third'])
  t.ok(seen.some((w) => /hooks\(\): teardown threw: close failed/.test(w.message)))
  t.ok(seen.some((w) => /hooks\(\): teardown rejected: flush failed/.test(w.message)))
})

t.test('hooks(): a throwing before hook propagates to the layer outside', async (t) => {
  const url = await serve(
    t,
    compose(
      hooks({
        before: () => {
          throw new HttpError(401)
        },
      }),
    )((_req, res) => res.end()),
  )
  t.equal((await rawGet(url)).status, 599)
  const viaBoundary = await serve(
    t,
    compose(
      errorBoundary(),
      hooks({
        before: () => {
          throw new HttpError(401)
        },
      }),
    )((_req, res) => res.end()),
  )
  t.equal((await rawGet(viaBoundary)).status, 401)
})

t.test('hooks(): a streamed body with backpressure passes through', async (t) => {
  const handler: RawHandler = async (_req, res) => {
    const chunk = Buffer.alloc(64 * 1024, 'x')
    const waited = (await writeWithBackpressure(res, repeated(chunk, 64))) > 0
    res.end(`waited ${waited}`)
  }
  const url = await serve(t, compose(hooks({ after: () => undefined, teardown: () => undefined }))(handler))
  const socket = await openSocket(url)
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  socket.pause()
  await tick(50)
  let tail = ''
  socket.on('data', (d: Buffer) => {
    tail = (tail + d.toString('latin1')).slice(-50)
  })
  socket.resume()
  await new Promise((ok) => socket.once('close', ok))
  t.match(tail, /waited true/)
})

t.test('hooks(): explain() lists its hooks', async (t) => {
  t.match(
    compose(hooks({ before: [() => undefined, () => undefined], teardown: () => undefined })).explain(),
    /hooks \(2 before, 1 teardown\)/,
  )
})

t.test('hooks(): config: rejects bad options', async (t) => {
  const bad = (options: HooksOptions, message: RegExp) =>
    t.throws(() => hooks(options), { name: 'ConfigError', message })
  bad(
    {},
    /hooks\(\): option "before" must be at least one hook among before, after and teardown; received undefined \(undefined\)\. Without hooks the layer does nothing: remove it\./,
  )
  bad({ before: 'x' as never }, /option "before" must be a function or an array of functions; received "x"/)
  bad({ after: [() => undefined, 5 as never] }, /option "after\[1\]" must be a function; received 5/)
  bad({ teardown: null as never }, /option "teardown" must be a function or an array of functions; received null/)
  bad({ beforeAll: () => undefined } as never, /^hooks\(\): unknown option "beforeAll"; did you mean "before"\?$/)
})

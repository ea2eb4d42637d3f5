import t from 'tap'
import { compose, type ComposeOptions, OrderingError, type Middleware, type RawHandler } from '../../lib/index.js'
import { defineMiddleware, onResponseStart } from '../../lib/core.js'
import { serve } from '../helpers/serve.js'
import { silenceWarningOutput } from '../helpers/wait.js'

const recorder = (log: string[], name: string, before: number, after: number): Middleware =>
  defineMiddleware(
    { name },
    (next) =>
      async function recorderHandler(req, res) {
        log.push(`${before}:${name}`)
        onResponseStart(res, () => log.push(`start:${name}`))
        await next(req, res)
        log.push(`${after}:${name}`)
      },
  )

t.test('compose(): runs the request path outermost first and unwinds innermost first', async (t) => {
  const log: string[] = []
  const app = compose(
    recorder(log, 'a', 1, 6),
    recorder(log, 'b', 2, 5),
    recorder(log, 'c', 3, 4),
  )((_req, res) => {
    log.push('handler')
    res.end('ok')
  })
  const res = await fetch(await serve(t, app))
  t.equal(await res.text(), 'ok')
  t.same(log, ['1:a', '2:b', '3:c', 'handler', 'start:c', 'start:b', 'start:a', '4:c', '5:b', '6:a'])
})

t.test('compose(): first argument is outermost, also for plain (next) => handler functions', async (t) => {
  const tag =
    (name: string): Middleware =>
    (next) =>
    (req, res) => {
      res.setHeader('x-order', [...[res.getHeader('x-order') ?? []].flat().map(String), name])
      return next(req, res)
    }
  const res = await fetch(
    await serve(
      t,
      compose(tag('outer'), tag('inner'))((_req, res) => res.end()),
    ),
  )
  t.equal(res.headers.get('x-order'), 'outer, inner')
})

t.test('compose(): a sync throw from an inner layer reaches the outer layer as a rejection', async (t) => {
  let caught: unknown
  const outer: Middleware = (next) => async (req, res) => {
    try {
      await next(req, res)
    } catch (err) {
      caught = err
      res.statusCode = 500
      res.end('caught')
    }
  }
  const throwsSync: Middleware = () => () => {
    throw new Error('sync boom')
  }
  const res = await fetch(
    await serve(
      t,
      compose(outer, throwsSync)(() => undefined),
    ),
  )
  t.equal(res.status, 500)
  t.equal(await res.text(), 'caught')
  t.match(caught, { message: 'sync boom' })
})

t.test('compose(): an async rejection from the handler reaches the outer layer', async (t) => {
  let caught: unknown
  const outer: Middleware = (next) => async (req, res) => {
    try {
      await next(req, res)
    } catch (err) {
      caught = err
      res.end('caught')
    }
  }
  const passthrough: Middleware = (next) => (req, res) => next(req, res)
  const app = compose(
    outer,
    passthrough,
  )(async () => {
    await new Promise((ok) => setImmediate(ok))
    throw new Error('async boom')
  })
  await (await fetch(await serve(t, app))).text()
  t.match(caught, { message: 'async boom' })
})

t.test('compose(): the composed handler rejects, never throws, when the handler throws synchronously', async (t) => {
  const app = compose((next) => (req, res) => next(req, res))(() => {
    throw new Error('plain')
  })
  let result: unknown
  t.doesNotThrow(() => {
    result = app({} as never, {} as never)
  })
  t.ok(result instanceof Promise)
  await t.rejects(result as Promise<unknown>, { message: 'plain' })
})

t.test('compose(): calling next twice for one request rejects and names the layer', async (t) => {
  let handlerRuns = 0
  let second: unknown
  const twice = defineMiddleware(
    { name: 'twice' },
    (next) =>
      async function twiceHandler(req, res) {
        await next(req, res)
        try {
          await next(req, res)
        } catch (err) {
          second = err
        }
      },
  )
  const res = await fetch(
    await serve(
      t,
      compose(twice)((_req, res) => {
        handlerRuns++
        res.end('once')
      }),
    ),
  )
  t.equal(await res.text(), 'once')
  t.equal(handlerRuns, 1)
  t.match(second, { message: /twice called next\(\) twice for one request/ })
})

t.test('compose(): two requests through one stack each get their own next', async (t) => {
  const app = compose((next) => (req, res) => next(req, res))((_req, res) => res.end('x'))
  const url = await serve(t, app)
  const bodies = await Promise.all([1, 2, 3].map(async () => (await fetch(url)).text()))
  t.same(bodies, ['x', 'x', 'x'])
})

t.test('compose(): flattens nested stacks into one list of layers', async (t) => {
  const named = (name: string) => defineMiddleware({ name }, (next) => next)
  const inner = compose(named('b'), named('c'))
  const outer = compose(named('a'), inner, named('d'))
  t.equal(outer.layers.length, 4)
  t.match(outer.explain(), /1\. a[\s\S]*2\. b[\s\S]*3\. c[\s\S]*4\. d/)
})

t.test('compose(): explain() prints the request path and the response path, one layer per line', async (t) => {
  const stack = compose(
    defineMiddleware({ name: 'first', detail: 'one' }, (next) => next),
    function second(next: RawHandler) {
      return next
    },
    (next) => next,
  )
  t.equal(
    stack.explain(),
    [
      'request path (outermost first):',
      '  →  1. first (one)',
      '  →  2. second',
      '  →  3. anonymous#3',
      '  → handler',
      'response path (response-start hooks, innermost first):',
      '  ← handler',
      '  ←  3. anonymous#3',
      '  ←  2. second',
      '  ←  1. first (one)',
    ].join('\n'),
  )
})

const guard = defineMiddleware(
  { name: 'guard', inside: [{ name: 'shield', reason: 'the shield must see every request first' }] },
  (next) => next,
)
const shield = defineMiddleware({ name: 'shield' }, (next) => next)

t.test('compose(): a broken ordering constraint is warned once, with the fix', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error) => {
    if (w.name === 'OrderingWarning') warnings.push(w)
  }
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const first = compose(guard, shield)
  compose(guard, shield)
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.length, 1)
  t.match(
    warnings[0]!.message,
    'shield (layer 2) must wrap guard (layer 1) because the shield must see every request first. Fix: list shield() before guard() in compose(...)',
  )
  t.equal(first.violations.length, 1)
  t.match(first.explain(), /BROKEN\s+shield wraps guard: the shield must see every request first/)
})

t.test('compose(): strict mode throws an OrderingError for a broken constraint', async (t) => {
  t.throws(() => compose({ strict: true }, guard, shield), {
    name: 'OrderingError',
    message: /shield \(layer 2\) must wrap guard/,
  })
  t.ok(new OrderingError('x') instanceof Error)
})

t.test('compose(): a kept constraint is listed as ok and not warned', async (t) => {
  const stack = compose({ strict: true }, shield, guard)
  t.equal(stack.violations.length, 0)
  t.match(stack.explain(), /ok\s+shield wraps guard/)
})

t.test('compose(): a constraint naming an absent layer does not apply', async (t) => {
  const stack = compose({ strict: true }, guard)
  t.notMatch(stack.explain(), /ordering constraints/)
})

t.test('compose(): wraps constraints apply to every instance of the wrapped layer', async (t) => {
  const outerOnly = defineMiddleware(
    { name: 'log', wraps: [{ name: 'limit', reason: 'limited requests are logged too' }] },
    (next) => next,
  )
  const limit = defineMiddleware({ name: 'limit' }, (next) => next)
  const stack = compose(limit, outerOnly, limit)
  t.equal(stack.violations.length, 1)
  t.equal(stack.violations[0]!.inner.position, 1)
})

t.test('compose(): warns once when a constraint names a layer nobody defined (a typo)', async (t) => {
  const warnings: Array<Error & { code?: string }> = []
  // Earlier tests' ordering warnings may still be on their way (emitWarning waits a tick).
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'HTTP_ONION_ORDER_UNKNOWN_NAME') warnings.push(w)
  }
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  const typo = defineMiddleware(
    { name: 'auditTrail', inside: [{ name: 'jwtauth', reason: 'it records the verified user' }] },
    (next) => next,
  )
  const nowhere = defineMiddleware(
    { name: 'tenantGuard', wraps: [{ name: 'zzNoSuchLayer', reason: 'it must run first' }] },
    (next) => next,
  )
  compose(typo, nowhere)
  compose(typo)
  // Strict mode is about the order of the stack; a bad name in a layer's declaration still only warns.
  t.doesNotThrow(() => compose({ strict: true }, typo))
  await new Promise((ok) => setImmediate(ok))
  t.same(
    warnings.map((w) => w.code),
    ['HTTP_ONION_ORDER_UNKNOWN_NAME', 'HTTP_ONION_ORDER_UNKNOWN_NAME'],
  )
  t.equal(
    warnings[0]!.message,
    'compose(): auditTrail declares that it sits inside "jwtauth", but no layer has that name (no built-in middleware, and no defineMiddleware() call so far), so the constraint never applies. Did you mean "jwtAuth"?',
  )
  t.equal(
    warnings[1]!.message,
    'compose(): tenantGuard declares that it wraps "zzNoSuchLayer", but no layer has that name (no built-in middleware, and no defineMiddleware() call so far), so the constraint never applies. Fix the name in tenantGuard\'s defineMiddleware({ wraps, inside }).',
  )
})

t.test('compose(): a constraint naming a built-in layer, or one defined so far, is not warned about', async (t) => {
  const warnings: Error[] = []
  const onWarning = (w: Error & { code?: string }) => {
    if (w.code === 'HTTP_ONION_ORDER_UNKNOWN_NAME') warnings.push(w)
  }
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  // Neither session nor a layer named reportingSink is ever in this stack.
  defineMiddleware({ name: 'reportingSink' }, (next) => next)
  const layer = defineMiddleware(
    {
      name: 'knownNames',
      wraps: [{ name: 'session', reason: 'x' }],
      inside: [{ name: 'reportingSink', reason: 'y' }],
    },
    (next) => next,
  )
  compose(layer)
  await new Promise((ok) => setImmediate(ok))
  t.same(warnings, [])
})

t.test('compose(): config: refuses a layer that is not a function, with a hint', async (t) => {
  t.throws(() => compose((next) => next, undefined as unknown as Middleware), {
    name: 'TypeError',
    message:
      /layer 2 must be a middleware \(next\) => handler; received undefined \(undefined\)\. Did you forget to call a factory/,
  })
})

t.test('compose(): config: refuses an unknown option, naming the one meant', async (t) => {
  t.throws(() => compose({ stirct: true } as ComposeOptions, guard, shield), {
    name: 'ConfigError',
    code: 'ERR_MIDDLEWARE_OPTION',
    option: 'stirct',
    message: /^compose\(\): unknown option "stirct"; did you mean "strict"\?$/,
  })
})

t.test('compose(): config: strict must be a boolean', async (t) => {
  for (const strict of ['yes', 1, null]) {
    t.throws(
      () => compose({ strict } as unknown as ComposeOptions, shield, guard),
      {
        name: 'ConfigError',
        message:
          /^compose\(\): option "strict" must be true or false; received .*\. Pass strict: true to throw an OrderingError on a misordered stack, or leave it out to be warned\.$/,
      },
      String(strict),
    )
  }
  // undefined takes the default, as for every factory: a misorder is warned, not thrown.
  t.equal(compose({ strict: undefined }, guard, shield).violations.length, 1)
  t.equal(compose({}, shield, guard).layers.length, 2)
})

t.test('compose(): config: refuses a handler that is not a function', async (t) => {
  t.throws(() => compose()('nope' as unknown as RawHandler), { message: /innermost handler must be a function/ })
})

t.test('compose(): config: refuses a layer that does not return a handler', async (t) => {
  t.throws(() => compose(defineMiddleware({ name: 'broken' }, () => 42 as unknown as RawHandler))(() => undefined), {
    message: /layer 1 \(broken\) returned 42 \(number\) instead of a handler/,
  })
})

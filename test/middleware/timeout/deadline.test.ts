import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import { HttpError } from '../../../lib/index.js'
import {
  endDeadline,
  onDeadline,
  RequestAbortError,
  rethrowUnlessAborted,
  signalOf,
  type Deadline,
  type DeadlineSettings,
} from '../../../lib/middleware/timeout/deadline.js'
import { parseRawResponse, rawExchange } from '../../helpers/raw.js'
import { serve } from '../../helpers/serve.js'

const settings: DeadlineSettings = {
  timers: { setTimeout: () => 1, clearTimeout: () => undefined },
  error: new HttpError(503, 'late', { code: 'timeout', expose: true }),
  stalled: new HttpError(408, 'stalled', { code: 'request_timeout', expose: true, headers: { connection: 'close' } }),
  stalled2: new HttpError(408, 'stalled', { code: 'request_timeout', expose: true }),
}

/** A deadline record for a real request, handed to `use` inside the handler. */
async function withDeadline(use: (deadline: Deadline, req: IncomingMessage, res: ServerResponse) => void) {
  const url = await serve(t, (req, res) => {
    const deadline: Deadline = {
      req,
      res,
      settings,
      first: 100,
      second: 0,
      timer: undefined,
      controller: undefined,
      reason: undefined,
      inner: undefined,
    }
    use(deadline, req, res)
    if (!res.writableEnded) res.end('handler')
  })
  return parseRawResponse(await rawExchange(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
}

t.test('RequestAbortError: named TimeoutError or AbortError by kind', async (t) => {
  t.equal(new RequestAbortError('deadline', 'm').name, 'TimeoutError')
  t.equal(new RequestAbortError('maxDuration', 'm').name, 'TimeoutError')
  t.equal(new RequestAbortError('clientGone', 'm').name, 'AbortError')
  t.equal(new RequestAbortError('responseError', 'm').name, 'AbortError')
  t.equal(new RequestAbortError('deadline', 'm').code, 'ERR_REQUEST_ABORTED')
})

t.test('signalOf(): made on first use; aborted already when the reason came first', async (t) => {
  let early: AbortSignal | undefined
  let late: AbortSignal | undefined
  const res = await withDeadline((deadline) => {
    t.equal(deadline.controller, undefined)
    early = signalOf(deadline)
    t.equal(signalOf(deadline), early, 'one signal per request')
    onDeadline(deadline)
    late = signalOf(deadline)
  })
  t.equal(res.status, 503)
  t.equal(early!.aborted, true)
  t.equal((early!.reason as RequestAbortError).kind, 'deadline')
  t.equal(late, early)
  const lazy = await withDeadline((deadline) => {
    onDeadline(deadline)
    t.equal(deadline.controller, undefined, 'no controller until someone asks')
    t.equal(signalOf(deadline).aborted, true)
  })
  t.equal(lazy.status, 503)
})

t.test('onDeadline(): a response already complete is left alone', async (t) => {
  const res = await withDeadline((deadline, _req, res) => {
    res.end('in time')
    onDeadline(deadline)
    t.equal(deadline.reason, undefined)
  })
  t.equal(res.body.toString(), 'in time')
})

t.test('endDeadline(): clears the timer and aborts only for aborted or failed exchanges', async (t) => {
  const cleared: unknown[] = []
  const counting: DeadlineSettings = {
    ...settings,
    timers: {
      setTimeout: () => 1,
      clearTimeout: (h) => {
        cleared.push(h)
      },
    },
  }
  await withDeadline((d) => {
    const deadline = { ...d, settings: counting, timer: 7 }
    const info = {
      outcome: 'finished',
      error: undefined,
      status: 200,
      headersSent: true,
      bytesWritten: 0,
      durationMs: 1,
      headersMs: 1,
    } as const
    endDeadline(info, deadline.res, deadline)
    t.same(cleared, [7])
    t.equal(deadline.reason, undefined)
    endDeadline({ ...info, outcome: 'error', error: new Error('pipe broke') }, deadline.res, deadline)
    t.equal(deadline.reason?.kind, 'responseError')
    t.match(deadline.reason?.message, /pipe broke/)
  })
})

t.test('rethrowUnlessAborted(): swallows the reason and errors caused by it, rethrows the rest', async (t) => {
  await withDeadline((deadline) => {
    const reason = new RequestAbortError('deadline', 'late')
    deadline.reason = reason
    t.doesNotThrow(() => rethrowUnlessAborted(deadline, reason))
    t.doesNotThrow(() => rethrowUnlessAborted(deadline, new Error('The operation was aborted', { cause: reason })))
    t.throws(() => rethrowUnlessAborted(deadline, new Error('other')), /other/)
    deadline.reason = undefined
    t.throws(() => rethrowUnlessAborted(deadline, reason), /late/, 'before any abort, nothing is swallowed')
  })
})

import { once } from 'node:events'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { LineSink } from '../../../lib/middleware/access-log/sink.js'
import { silenceWarningOutput } from '../../helpers/wait.js'

/** A Writable that takes lines but calls back only when released: backpressure on demand. */
class HeldSink extends Writable {
  readonly chunks: string[] = []
  readonly #held: Array<() => void> = []
  constructor() {
    super({ highWaterMark: 1, decodeStrings: false })
  }
  override _write(chunk: string, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk)
    this.#held.push(callback)
  }
  release(): void {
    for (const callback of this.#held.splice(0)) callback()
  }
}

/** Write `line` the way accessLog() does: check saturation, carry the dropped count. */
function offer(sink: LineSink<unknown>, line: string): boolean {
  if (sink.saturated) {
    sink.drop()
    return false
  }
  sink.write(line, {}, sink.takeDropped())
  return true
}

function warningsOf(t: Test): Error[] {
  const warnings: Error[] = []
  const onWarning = (w: Error) => warnings.push(w)
  silenceWarningOutput(t)
  process.on('warning', onWarning)
  t.teardown(() => {
    process.off('warning', onWarning)
  })
  return warnings
}

t.test('LineSink: writes the lines of one event-loop turn, each with a newline, in one write', async (t) => {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _e, cb) {
      chunks.push(String(chunk))
      cb()
    },
  })
  const sink = new LineSink<unknown>(stream, 10)
  t.ok(offer(sink, 'a'))
  t.ok(offer(sink, 'b'))
  t.same(chunks, [], 'nothing written before the turn ends')
  await new Promise((ok) => setImmediate(ok))
  t.same(chunks, ['a\nb\n'])
  t.ok(offer(sink, 'c'))
  await new Promise((ok) => setImmediate(ok))
  t.same(chunks, ['a\nb\n', 'c\n'], 'a later turn gets its own write')
})

t.test('LineSink: a full batch is written at once, without waiting for the turn to end', async (t) => {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _e, cb) {
      chunks.push(String(chunk))
      cb()
    },
  })
  const sink = new LineSink<unknown>(stream, 3)
  for (const line of ['1', '2', '3', '4']) t.ok(offer(sink, line))
  t.same(chunks, ['1\n2\n3\n'])
  await new Promise((ok) => setImmediate(ok))
  t.same(chunks, ['1\n2\n3\n', '4\n'])
})

t.test(
  'LineSink: queues up to the bound under backpressure, then drops; flushes the queue as one write on drain',
  async (t) => {
    const stream = new HeldSink()
    const sink = new LineSink<unknown>(stream, 2)
    // 1 and 2 fill a batch, which is written at once and meets backpressure (high-water mark 1);
    // 3 and 4 queue up to the bound; 5 is dropped.
    t.same(
      ['1', '2', '3', '4', '5'].map((l) => offer(sink, l)),
      [true, true, true, true, false],
    )
    t.equal(sink.saturated, true)
    t.same(stream.chunks, ['1\n2\n'])
    // The release calls back synchronously, so 'drain' comes during it: listen first.
    let drained = once(stream, 'drain')
    stream.release()
    await drained
    t.same(stream.chunks, ['1\n2\n', '3\n4\n'])
    // Still pushing back (the flush wrote more than the high-water mark), with room to queue.
    t.equal(sink.saturated, false)
    t.equal(sink.takeDropped(), 1)
    sink.drop()
    sink.drop()
    t.ok(offer(sink, '6'))
    drained = once(stream, 'drain')
    stream.release()
    await drained
    t.same(stream.chunks, ['1\n2\n', '3\n4\n', '6\n'])
    stream.release()
    await new Promise((ok) => setImmediate(ok))
    t.equal(sink.takeDropped(), 0, 'the drops rode on line 6')
  },
)

t.test('LineSink: maxQueued 0 drops every line while the stream pushes back', async (t) => {
  const stream = new HeldSink()
  const sink = new LineSink<unknown>(stream, 0)
  t.ok(offer(sink, 'x'))
  t.notOk(offer(sink, 'y'))
  t.equal(sink.takeDropped(), 1)
})

t.test('LineSink: a closed or failed stream drops lines and is reported once', async (t) => {
  const warnings = warningsOf(t)
  const ended = new Writable({
    write(_c, _e, cb) {
      cb()
    },
  })
  ended.end()
  const a = new LineSink<unknown>(ended, 5)
  t.equal(a.saturated, true)
  const failing = new Writable({
    write(_c, _e, cb) {
      cb(new Error('EIO'))
    },
  })
  const b = new LineSink<unknown>(failing, 5)
  offer(b, 'one')
  await new Promise((ok) => setImmediate(ok))
  t.equal(b.saturated, true)
  t.notOk(offer(b, 'two'))
  failing.emit('error', new Error('again'))
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.filter((w) => /accessLog\(\) sink: /.test(w.message)).length, 1)
})

t.test('LineSink: a write() that throws synchronously is handled like an error event', async (t) => {
  const warnings = warningsOf(t)
  const stream = new Writable({
    write(_c, _e, cb) {
      cb()
    },
  })
  stream.write = () => {
    throw new Error('sync write failure')
  }
  const sink = new LineSink<unknown>(stream, 5)
  t.doesNotThrow(() => offer(sink, 'x'))
  await new Promise((ok) => setImmediate(ok))
  t.equal(sink.saturated, true, 'the failed write, at the end of the turn, broke the sink')
  t.notOk(offer(sink, 'y'))
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.filter((w) => /sync write failure/.test(w.message)).length, 1)
})

t.test('LineSink: a function sink gets line and entry; its throws count the line and what it carried', async (t) => {
  const warnings = warningsOf(t)
  const got: Array<[string, unknown]> = []
  let failures = 2
  const sink = new LineSink<{ n: number }>((line, entry) => {
    if (failures-- > 0) throw new Error('collector down')
    got.push([line, entry])
  }, 5)
  t.equal(sink.saturated, false)
  sink.write('a', { n: 1 }, sink.takeDropped())
  sink.write('b', { n: 2 }, sink.takeDropped())
  t.equal(sink.takeDropped(), 2)
  sink.write('c', { n: 3 }, 0)
  t.same(got, [['c', { n: 3 }]])
  await new Promise((ok) => setImmediate(ok))
  t.equal(warnings.filter((w) => /collector down/.test(w.message)).length, 1)
})

t.test(
  'LineSink: flush() writes the lines of this turn at once and resolves when the stream confirmed them',
  async (t) => {
    const stream = new HeldSink()
    const sink = new LineSink<unknown>(stream, 10)
    t.ok(offer(sink, 'a'))
    t.ok(offer(sink, 'b'))
    let flushed = false
    const flushing = sink.flush().then(() => {
      flushed = true
    })
    t.same(stream.chunks, ['a\nb\n'], 'written without waiting for the turn to end')
    await new Promise((ok) => setImmediate(ok))
    t.equal(flushed, false, 'not before the stream confirmed the write')
    stream.release()
    await flushing
    t.equal(flushed, true)
  },
)

t.test('LineSink: flush() waits through backpressure for the queued lines', async (t) => {
  const stream = new HeldSink()
  const sink = new LineSink<unknown>(stream, 10)
  t.ok(offer(sink, 'a'))
  await new Promise((ok) => setImmediate(ok))
  t.ok(offer(sink, 'b'), 'queued while the stream pushes back')
  let flushed = false
  const flushing = sink.flush().then(() => {
    flushed = true
  })
  t.same(stream.chunks, ['a\n'])
  stream.release()
  await new Promise((ok) => setImmediate(ok))
  t.same(stream.chunks, ['a\n', 'b\n'], 'the queued line went out after the drain')
  t.equal(flushed, false)
  stream.release()
  await flushing
  t.equal(flushed, true)
})

t.test('LineSink: flush() resolves at once for a function sink, and for a destroyed stream', async (t) => {
  await new LineSink<unknown>(() => {}, 10).flush()
  const stream = new HeldSink()
  const sink = new LineSink<unknown>(stream, 10)
  t.ok(offer(sink, 'a'))
  const flushing = sink.flush()
  stream.destroy()
  await flushing
  t.pass('settled without the write being confirmed')
})

// Preloaded into a docs example run by a test: every server the example starts listens on
// 127.0.0.1, port 0, whatever port the example names, and reports its port over IPC.
// The examples keep the natural `.listen(3000)` a reader would write.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function listenOnEphemeralLoopback(...args) {
  const callback = args.find((arg) => typeof arg === 'function')
  this.once('listening', () => {
    const address = this.address()
    process.send?.({ type: 'listening', port: address.port })
  })
  return callback ? listen.call(this, 0, '127.0.0.1', callback) : listen.call(this, 0, '127.0.0.1')
}

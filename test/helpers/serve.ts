/**
 * Test servers on 127.0.0.1, port 0, closed when the test ends.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { RawHandler } from '../../lib/index.js'

/** Listen on an ephemeral loopback port; closed automatically when `t` ends. Returns the base URL. */
export async function serve(t: Test, handler: RawHandler): Promise<string> {
  const { url } = await serveWithServer(t, handler)
  return url
}

/** Like {@link serve}, also returning the server and its port. */
export async function serveWithServer(
  t: Test,
  handler: RawHandler,
): Promise<{ url: string; server: Server; port: number }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      // A test handler that fails without answering: make the failure visible to the client.
      if (!res.headersSent) {
        res.statusCode = 599
        res.end(String(err instanceof Error ? err.message : err))
      } else {
        res.destroy(err instanceof Error ? err : new Error(String(err)))
      }
    })
  })
  return listen(t, server)
}

/** Start `server` on 127.0.0.1:0 and register its teardown. */
export async function listen<S extends Server>(t: Test, server: S): Promise<{ url: string; server: S; port: number }> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  t.teardown(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, server, port }
}

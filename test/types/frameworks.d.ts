// Minimal typings for the frameworks the tests drive, covering what the tests use.
// The project may depend on express and koa for tests but not on their @types packages.
declare module 'express' {
  import type { IncomingMessage, Server, ServerResponse } from 'node:http'

  export interface Request extends IncomingMessage {
    params: Record<string, string>
    query: Record<string, unknown>
    path: string
    body?: unknown
    /** The client address per the `trust proxy` setting (proxy-addr). */
    ip: string
  }
  export interface Response extends ServerResponse {
    status(code: number): this
    json(body: unknown): this
    send(body?: unknown): this
    sendFile(path: string, callback?: (err?: Error) => void): void
    set(field: string, value?: string | string[]): this
    type(type: string): this
  }
  export type NextFunction = (err?: unknown) => void
  export type Handler = (req: Request, res: Response, next: NextFunction) => unknown
  // biome-ignore lint/suspicious/noExplicitAny: Express's own declaration of its error handlers
  export type ErrorHandler = (err: any, req: Request, res: Response, next: NextFunction) => unknown
  export interface Application {
    (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void
    use(handler: Handler): this
    use(app: Application): this
    use(handler: ErrorHandler): this
    use(path: string, ...handlers: Array<Handler | Application>): this
    get(path: string | RegExp, ...handlers: Handler[]): this
    post(path: string | RegExp, ...handlers: Handler[]): this
    all(path: string | RegExp, ...handlers: Handler[]): this
    options(path: string | RegExp, ...handlers: Handler[]): this
    disable(setting: string): this
    set(setting: string, value: unknown): this
    listen(port: number, host: string, callback?: () => void): Server
  }
  /** A Connect middleware: Express's own (json, static) run on Node's request and response. */
  export type ConnectHandler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void
  interface Express {
    (): Application
    static(root: string): ConnectHandler
    json(options?: { limit?: string | number }): ConnectHandler
    Router(): Application
  }
  const express: Express
  export default express
}

declare module 'express4' {
  import express from 'express'
  export * from 'express'
  export default express
}

declare module 'koa' {
  import type { IncomingMessage, Server, ServerResponse } from 'node:http'
  export interface Context {
    req: IncomingMessage
    res: ServerResponse
    respond?: boolean
    body: unknown
    status: number
    type: string
    path: string
    url: string
    set(field: string, value: string): void
    get(field: string): string
    throw(status: number, message?: string): never
  }
  export type Next = () => Promise<unknown>
  export type KoaMiddleware = (ctx: Context, next: Next) => unknown
  export default class Koa {
    use(middleware: KoaMiddleware): this
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    listen(port: number, host: string, callback?: () => void): Server
    on(event: 'error', listener: (err: Error, ctx?: Context) => void): this
    silent: boolean
  }
}

declare module 'koa2' {
  export * from 'koa'
  import Koa from 'koa'
  export default Koa
}

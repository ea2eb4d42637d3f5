import t from 'tap'
import { routeTemplate, setRoute, setRouteReader } from '../../lib/core.js'
import { httpRequest } from '../helpers/http.js'
import { serve } from '../helpers/serve.js'

t.test(
  'routeTemplate(): undefined until a router says; setRoute wins over a reader; a reader is asked late',
  async (t) => {
    const seen: Array<string | undefined> = []
    let matched: string | undefined
    const url = await serve(t, (req, res) => {
      seen.push(routeTemplate(req))
      if (req.url === '/reader') {
        setRouteReader(req, () => matched)
        seen.push(routeTemplate(req))
        matched = '/late/:id' // the framework routes after the reader was left
        seen.push(routeTemplate(req))
      } else {
        setRouteReader(req, () => '/from-reader')
        setRoute(req, '/users/:id')
        setRoute(req, '/users/:id/posts')
        seen.push(routeTemplate(req))
      }
      res.end()
    })
    await httpRequest(`${url}/reader`)
    await httpRequest(`${url}/users/1/posts`)
    t.same(seen, [undefined, undefined, '/late/:id', undefined, '/users/:id/posts'])
  },
)

import t from 'tap'
import { runExample } from '../helpers/examples.js'
import { httpRequest } from '../helpers/http.js'

t.test('docs mount example: the prefix goes to the sub-stack, stripped, with its own auth', async (t) => {
  const example = await runExample(t, 'mount.ts')
  const auth = { authorization: 'Bearer admin-token' }
  t.equal(
    (await httpRequest(`${example.url}/admin/users?page=2`, { headers: auth })).text,
    'admin route /users?page=2, mounted at /admin, requested as /admin/users?page=2\n',
  )
  t.equal((await httpRequest(`${example.url}/admin/users`)).status, 401, "the sub-stack's own middleware")
  t.equal((await httpRequest(`${example.url}/ADMIN/users`)).status, 401, 'another spelling reaches the same sub-stack')
  t.equal((await httpRequest(`${example.url}/administrator`)).text, 'public route /administrator\n')
  await example.waitForOutput(/\/administrator 200/)
  t.match(
    example.output(),
    /\/admin\/users\?page=2 200\n\/admin\/users 401\n\/ADMIN\/users 401\n/,
    'the outer log reads the original URL',
  )
})

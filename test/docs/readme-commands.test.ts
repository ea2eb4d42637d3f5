import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

// The README's two commands, tried the way a newcomer runs them: in a clean copy of the
// repository (the files git tracks, nothing else: no node_modules, no dist), `npm ci`, then
// the demo server (`npm start`) must serve /health, and the test command must pass. The
// commands are read from README.md, so changing them there changes what this test runs.
// `npm ci` and a TypeScript build and type check take minutes on a busy machine.
t.setTimeout(15 * 60_000)

const readme = readFileSync('README.md', 'utf8')
const startCommand = /```sh\n(npm ci && npm (?:run )?start\b[^\n]*)\n```/.exec(readme)?.[1]
const testCommand = /```sh\n(npm ci && npm (?:run )?test\b[^\n]*)\n```/.exec(readme)?.[1]

// The copy must not inherit this run's tap, TypeScript-loader or npm settings: its own
// `npm test` starts a tap of its own.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !/^(TAP_|_TAPJS_|TS_NODE_|npm_|NODE_OPTIONS$|NODE_V8_COVERAGE$|HTTP_ONION_)/i.test(key),
  ),
)

/** Run `command` (a shell line) in `cwd`; resolves with its output, rejects on a non-zero exit. */
function sh(command: string, cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((ok, fail) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`
        if (err) fail(new Error(`${command} failed (${err.code ?? err.signal}):\n${output.slice(-4000)}`))
        else ok(output)
      },
    )
  })
}

t.test('README: both commands are there, each starting with npm ci', async (t) => {
  t.match(startCommand, /^npm ci && npm (run )?start/, 'the start command (npm ci && npm start)')
  t.match(testCommand, /^npm ci && npm (run )?test/, 'the test command (npm ci && npm test)')
})

t.test('README: the two commands work in a clean copy of the repository', async (t) => {
  if (!startCommand || !testCommand)
    return t.fail('README.md must show `npm ci && npm start` and `npm ci && npm test` in ```sh blocks')
  const dir = mkdtempSync(join(tmpdir(), 'http-onion-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The tracked files as git holds them (the index): work in progress other people have not
  // staged in a shared checkout stays out, as it would from a fresh clone.
  const tracked = execFileSync('git', ['ls-files', '-z'])
  execFileSync('git', ['checkout-index', '-z', '--stdin', `--prefix=${dir}/`], { input: tracked })
  t.ok(
    readFileSync(join(dir, 'package-lock.json')).length > 0,
    `copied ${tracked.toString().split('\0').filter(Boolean).length} tracked files`,
  )

  // `npm ci` once for both commands, with flags that keep it local and quiet.
  await sh('npm ci --prefer-offline --no-audit --no-fund', dir)
  const afterCi = (command: string) => command.replace(/^npm ci && /, '')

  await t.test(`\`${startCommand}\`: the demo serves /health`, async (t) => {
    // Its own process group, so stopping it by PID stops npm, the build's shell and node.
    const child = spawn('/bin/sh', ['-c', afterCi(startCommand)], {
      cwd: dir,
      env: { ...env, PORT: '0' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const url = await new Promise<string>((ok, fail) => {
      const collect = (chunk: Buffer) => {
        output += chunk.toString()
        const m = /listening on (http:\/\/[^\s/]+)/.exec(output)
        if (m) ok(m[1]!)
      }
      child.stdout!.on('data', collect)
      child.stderr!.on('data', collect)
      child.once('exit', (code) =>
        fail(new Error(`npm start exited with ${code} before listening:\n${output.slice(-4000)}`)),
      )
    })
    t.teardown(() => {
      try {
        process.kill(-child.pid!, 'SIGTERM')
      } catch {
        /* already gone */
      }
    })
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'it prints its URL')
    const res = await fetch(`${url}/health`)
    t.equal(res.status, 200)
    t.equal(await res.text(), 'ok')
    const exited = new Promise((ok) => child.once('exit', ok))
    process.kill(-child.pid!, 'SIGTERM')
    await exited
    t.pass('stopped by its PID')
  })

  await t.test(`\`${testCommand}\`: passes (bounded to one test file)`, async (t) => {
    // The whole suite would run this test again, inside itself: one file shows the command works.
    const output = await sh(`${afterCi(testCommand)} -- test/core/state.test.ts`, dir)
    const summary = /^# \{ total: (\d+), pass: (\d+)(?:, (\w+): \d+)* \}$/m.exec(output)
    t.ok(summary, summary ? 'tap printed its summary' : `no tap summary in:\n${output.slice(-2000)}`)
    t.ok(Number(summary?.[1]) > 0 && summary?.[1] === summary?.[2], `every assertion passed: ${summary?.[0]}`)
  })
})

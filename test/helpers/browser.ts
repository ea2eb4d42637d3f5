/**
 * Debian's Chromium, headless, driven by playwright-core, for what only a browser can judge
 * (CORS with credentials, decompression). Never downloads a browser.
 */
import { chromium, type Browser } from 'playwright-core'
import type { Test } from 'tap'
import { requireProgram } from './requirements.js'

/** Launch Chromium for `t` (closed when it ends), or skip loudly (fail under CI) without it. */
export async function launchBrowser(t: Test): Promise<Browser | undefined> {
  const executablePath = requireProgram(t, 'chromium', 'the browser tests', [
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
  ])
  if (!executablePath) return undefined
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // This machine's network is closed: without these flags Chromium spends its start-up
    // on connections that are refused.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  })
  t.teardown(() => browser.close())
  return browser
}

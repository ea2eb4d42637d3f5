/**
 * Child process entry: `server.js <scenario file> <scenario>`. Loads only that file (so a
 * bare server's memory holds no peer framework), starts the scenario, reports its port and
 * resident memory, and answers the runner's questions about CPU time and peak memory.
 */
import type { AddressInfo } from 'node:net'
import { loadScenarioModule } from './common.js'

const [file = '', name = ''] = process.argv.slice(2)
const scenario = (await loadScenarioModule(file))?.scenarios[name]
if (!scenario) {
  console.error(`no scenario "${name}" in ${file}`)
  process.exit(2)
}

const server = await scenario.start()
let cpuMark = process.cpuUsage()

process.on('message', (message: { type: string }) => {
  if (message.type === 'mark') {
    cpuMark = process.cpuUsage()
    process.send!({ type: 'marked' })
  } else if (message.type === 'stats') {
    const cpu = process.cpuUsage(cpuMark)
    process.send!({ type: 'stats', cpuMicros: cpu.user + cpu.system, maxRssKiB: process.resourceUsage().maxRSS })
  } else if (message.type === 'stop') {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  }
})
process.send!({
  type: 'ready',
  port: (server.address() as AddressInfo).port,
  rssKiB: Math.round(process.memoryUsage.rss() / 1024),
})

/**
 * Child process entry: start one scenario, report its port, and answer the runner's
 * questions about CPU time and peak memory over IPC.
 */
import type { AddressInfo } from 'node:net'
import { loadScenarioModules } from './common.js'

const name = process.argv[2] ?? ''
const modules = await loadScenarioModules()
const scenario = modules.map((m) => m.scenarios[name]).find(Boolean)
if (!scenario) {
  console.error(`unknown scenario "${name}"; known: ${modules.flatMap((m) => Object.keys(m.scenarios)).join(', ')}`)
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
process.send!({ type: 'ready', port: (server.address() as AddressInfo).port })

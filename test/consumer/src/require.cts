// CommonJS consumers: require() of the ESM package (Node 20.19 and later load ESM synchronously).
const onion = require('http-onion') as typeof import('http-onion')

const handler = onion.compose(onion.requestId())((_req, res) => {
  res.end('ok')
})
if (typeof handler !== 'function' || typeof onion.cors !== 'function') {
  console.error('consumer (CJS): require("http-onion") did not give the library')
  process.exit(1)
}
console.log(`consumer (CJS): require("http-onion") gives ${Object.keys(onion).length} exports; ok`)

#!/usr/bin/env bash
# The package as a consumer gets it: pack the library (prepack builds it), check the
# tarball's contents, install it into a throwaway project with its own package.json and
# no Redis client, type-check a consumer under strict NodeNext without skipLibCheck with
# the newest TypeScript (the consumer's lockfile) and with the repository's own, then run
# it as ESM and as CommonJS; then type-check every docs example, copied as a reader copies it,
# against the installed package the same way. Exits non-zero on the first failure, saying what failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

cd "$root"
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
listing=$(tar -tzf "$work/$tarball")
for file in package/package.json package/README.md package/LICENSE \
  package/dist/lib/index.js package/dist/lib/index.d.ts \
  package/dist/adapters/express.js package/dist/adapters/express.d.ts \
  package/dist/adapters/koa.js package/dist/adapters/fastify.js; do
  grep -qx "$file" <<<"$listing" || fail "the tarball lacks $file"
done
# Every file an export of package.json names is in the tarball, but for the repository's own
# "http-onion-source" condition (the sources, for its tests and examples; no consumer sets it).
node -e '
  const exp = require(process.argv[1]).exports
  const targets = []
  const walk = (v) => typeof v === "string" ? targets.push(v)
    : Object.entries(v).forEach(([key, value]) => key === "http-onion-source" || walk(value))
  walk(exp)
  console.log(targets.map((t) => "package/" + t.replace(/^\.\//, "")).join("\n"))
' "$root/package.json" | while read -r target; do
  grep -qx "$target" <<<"$listing" || fail "package.json exports $target, which the tarball lacks"
done
grep -qE '\.map$' <<<"$listing" && fail "the tarball ships source maps, whose sources it does not ship"
grep -qE '^package/(test|benchmarks|docs/examples|lib/.*\.ts$)' <<<"$listing" && fail "the tarball ships files only the repository needs"
echo "check-package: $tarball has the library, its types, the adapters, README and LICENSE; no source maps"

app="$work/app"
cp -r "$root/test/consumer" "$app"
rm -rf "$app/node_modules" "$app/dist"
cd "$app"
npm ci --silent --no-audit --no-fund
npm install --silent --no-audit --no-fund --no-save "$work/$tarball"
[ -e node_modules/ioredis ] && fail "installing the package pulled in ioredis (it must stay an optional peer dependency)"
installed=$(ls node_modules | tr '\n' ' ')
echo "check-package: installed with $installed"

newest=$(node_modules/.bin/tsc --version)
node_modules/.bin/tsc -p . || fail "the consumer does not type-check with $newest (strict, NodeNext, no skipLibCheck)"
node "$root/node_modules/typescript/bin/tsc" -p . --noEmit ||
  fail "the consumer does not type-check with the repository's TypeScript ($(node "$root/node_modules/typescript/bin/tsc" --version))"
echo "check-package: the consumer type-checks with $newest and $(node "$root/node_modules/typescript/bin/tsc" --version)"
node dist/server.js || fail "the ESM consumer failed"
node dist/require.cjs || fail "the CommonJS consumer failed"

# The docs' examples, copied into a reader's project: they import 'http-onion' by name and
# compile against the installed tarball (strict, NodeNext, no skipLibCheck). The reader's
# project has the package, @types/express and @types/koa (the consumer's lockfile), and the
# frameworks and clients the examples use (ws with its types), linked from the repository's install.
examples="$work/examples"
mkdir -p "$examples/src" "$examples/node_modules"
cp "$root"/docs/examples/*.ts "$examples/src/"
cp "$app/tsconfig.json" "$examples/tsconfig.json"
# What a reader importing ioredis adds (docs/middleware/rate-limit.md, Other Redis clients).
printf "declare module 'redis-errors'\n" >"$examples/src/redis-errors.d.ts"
for dep in "$app"/node_modules/*; do [ "${dep##*/}" = @types ] || ln -s "$dep" "$examples/node_modules/"; done
mkdir -p "$examples/node_modules/@types"
for dep in "$app"/node_modules/@types/*; do ln -s "$dep" "$examples/node_modules/@types/"; done
for dep in express koa fastify ioredis redis ws @types/ws; do
  [ -e "$examples/node_modules/$dep" ] || ln -s "$root/node_modules/$dep" "$examples/node_modules/$dep"
done
printf '{ "name": "http-onion-examples-check", "private": true, "type": "module" }\n' >"$examples/package.json"
cd "$examples"
"$app/node_modules/.bin/tsc" -p . --noEmit || fail "a docs example does not type-check as a consumer's code with $newest"
node "$root/node_modules/typescript/bin/tsc" -p . --noEmit ||
  fail "a docs example does not type-check as a consumer's code with the repository's TypeScript"
echo "check-package: $(ls "$root"/docs/examples/*.ts | wc -l) docs examples type-check against the installed package"
echo "check-package: ok"

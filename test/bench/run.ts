// npm run bench: every test/bench/*.bench.ts in turn, each printing its figures; exits non-zero if one misses its target.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'

const dir = new URL('.', import.meta.url).pathname
const only = process.argv.slice(2)
let failed = 0
for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue
  process.stdout.write(`\n== ${file}\n`)
  const run = spawnSync(process.execPath, ['--import', 'tsx', dir + file], { stdio: 'inherit' })
  if (run.status !== 0) {
    failed++
    process.stdout.write(`${file}: missed its target or failed (exit ${run.status})\n`)
  }
}
process.exitCode = failed ? 1 : 0

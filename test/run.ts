// The test command: type-check, then every uvu file in its own process (unit and integration two at a time, e2e alone), then one totals line.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)
const jobs = Number(process.env.TEST_JOBS ?? 2)

function files(dir: string): string[] {
  let out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out = out.concat(files(path))
    else if (name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

interface Outcome {
  file: string
  passed: number
  failed: number
  seconds: number
  output: string
}

function run(command: string, args: string[], label: string): Promise<Outcome> {
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('close', (code) => {
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN)
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN)
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0)
      const seconds = (Date.now() - started) / 1000
      if (!Number.isFinite(total) || !Number.isFinite(passed)) {
        // Not a uvu file (the type-check), or it crashed before its summary.
        resolve({ file: label, passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, seconds, output })
        return
      }
      // A skipped test is not a pass; a file that exits non-zero after its tests fails once more.
      const failed = total - passed + (code !== 0 && total === passed ? 1 : 0)
      resolve({ file: label, passed, failed: failed + skipped, seconds, output })
    })
  })
}

async function pool<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const index = next++
        results[index] = await work(items[index]!)
      }
    }),
  )
  return results
}

function report(outcome: Outcome): void {
  const mark = outcome.failed ? 'FAIL' : 'ok  '
  process.stdout.write(`${mark} ${outcome.file} (${outcome.passed} passed, ${outcome.failed} failed, ${outcome.seconds.toFixed(1)}s)\n`)
  if (outcome.failed || process.env.TEST_VERBOSE) process.stdout.write(outcome.output.replace(/^/gm, '     ') + '\n')
}

const all = files(join(root, 'test')).filter((file) => !filters.length || filters.some((f) => file.includes(f)))
const parallel = all.filter((file) => !file.includes('/e2e/'))
const alone = all.filter((file) => file.includes('/e2e/'))
const testFile = (file: string) => run(process.execPath, ['--import', 'tsx', file], relative(root, file)).then((o) => (report(o), o))

const outcomes: Outcome[] = []
if (!filters.length) {
  const typecheck = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], 'typecheck (tsc --noEmit)')
  report(typecheck)
  outcomes.push(typecheck)
}
outcomes.push(...(await pool(parallel, jobs, testFile)))
for (const file of alone) outcomes.push(await testFile(file))

const passed = outcomes.reduce((sum, o) => sum + o.passed, 0)
const failed = outcomes.reduce((sum, o) => sum + o.failed, 0)
if (!all.length) process.stdout.write(`no test file matches ${filters.join(' ')}\n`)
process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exitCode = failed || !all.length ? 1 : 0

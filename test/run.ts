// The test command: type-check, then every uvu file in its own process (unit and integration two at a time, e2e alone),
// each within a time limit, then one totals line (`N passed, N failed`, the last line, which CI reads).
//
//   npx tsx test/run.ts [FILTER...]   only the files whose path contains a FILTER (no type-check then)
//   TEST_ROOT=DIR                     run the *.test.ts files under DIR instead of test/; the type-check checks DIR's parent
//   TEST_FILE_TIMEOUT=SECONDS         every file's time limit (default: 900 for e2e/, 300 for the others and the type-check)
//   TEST_JOBS=N                       files run at once outside e2e/ (default 2)
//   TEST_VERBOSE=1                    print every file's output, not only a failing one's
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const testRoot = resolve(process.env.TEST_ROOT ?? join(root, 'test'))
const project = dirname(testRoot)
const filters = process.argv.slice(2)
const jobs = Number(process.env.TEST_JOBS ?? 2)
// The slowest e2e file (data: its first backup waits for the compaction of the first history backfill) takes about 11
// minutes on this project's machines; a file over its limit holds an open handle.
const limits = { e2e: 25 * 60, other: 5 * 60 }
const overridden = Number(process.env.TEST_FILE_TIMEOUT)
const limitOf = (isE2e: boolean) => (overridden > 0 ? overridden : isE2e ? limits.e2e : limits.other)
// After SIGTERM, how long a file's processes have to stop before SIGKILL.
const graceMs = 5_000

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
  /** Why the file failed beyond its tests' own failures (no summary, exit code, time limit); '' when nothing. */
  problem: string
  output: string
}

/** A uvu file's counts, from the summary uvu prints last (uvu 0.5's exec(): Total, Passed, Skipped, Duration). */
interface Summary {
  total: number
  passed: number
  skipped: number
}

// Exactly as uvu writes it: '\n  Total:     ' + total, '\n  Passed:    ' + done, '\n  Skipped:   ' + skips, '\n  Duration:  ' + time + '\n\n'.
const summaryBlock = /^ {2}Total: {5}(\d+)\n {2}Passed: {4}(\d+)\n {2}Skipped: {3}(\d+)\n {2}Duration: {2}\d+(?:\.\d+)?ms$/gm
const colours = /\x1b\[[0-9;]*m/g

/** The last summary block on a file's stdout: a test may print a `Total:` of its own before uvu's. */
function summaryOf(stdout: string): Summary | undefined {
  const blocks = [...stdout.replace(colours, '').replace(/\r\n/g, '\n').matchAll(summaryBlock)]
  const last = blocks.at(-1)
  if (!last) return undefined
  return { total: Number(last[1]), passed: Number(last[2]), skipped: Number(last[3]) }
}

/** How a file's end is counted: a uvu file by its summary, the type-check (not a uvu file) by its exit code alone. */
type Counting = 'uvu-summary' | 'exit-code'

const running = new Set<ChildProcess>()

/** Stops a file and every process it started in its process group: SIGTERM, then SIGKILL after the grace. */
function stopGroup(child: ChildProcess): void {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name)
    } catch {
      // The group has already gone.
    }
  }
  signal('SIGTERM')
  setTimeout(() => signal('SIGKILL'), graceMs).unref()
}

function run(command: string, args: string[], label: string, counting: Counting, limitSeconds: number): Promise<Outcome> {
  const started = Date.now()
  return new Promise((done) => {
    // detached: the file leads a process group of its own, so the time limit stops its children too.
    const child = spawn(command, args, { cwd: root, detached: true, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } })
    running.add(child)
    let output = ''
    let stdout = ''
    let timedOut = false
    child.stdout!.on('data', (chunk) => ((stdout += chunk), (output += chunk)))
    child.stderr!.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => {
      timedOut = true
      stopGroup(child)
    }, limitSeconds * 1000)
    // A process the file started may keep its output open after it exits: wait for it briefly, then stop it.
    let leftovers: NodeJS.Timeout | undefined
    child.on('exit', () => {
      leftovers = setTimeout(() => stopGroup(child), 2_000)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(leftovers)
      running.delete(child)
      // Whatever the file started and left running goes with it.
      if (!timedOut) stopGroup(child)
      const seconds = (Date.now() - started) / 1000
      const exit = code ?? (signal ? `signal ${signal}` : 'unknown')
      done({ file: label, seconds, output, ...count(counting, summaryOf(stdout), code, exit, timedOut ? limitSeconds : 0) })
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      running.delete(child)
      child.removeAllListeners('close')
      done({ file: label, passed: 0, failed: 1, seconds: 0, problem: `could not start ${command}: ${error.message}`, output })
    })
  })
}

function count(counting: Counting, summary: Summary | undefined, code: number | null, exit: number | string, timedOutAfter: number): Pick<Outcome, 'passed' | 'failed' | 'problem'> {
  if (timedOutAfter) {
    const limit = `stopped after its time limit of ${timedOutAfter} s (TEST_FILE_TIMEOUT changes it); something in it never finished, e.g. a server or timer left open`
    return { passed: counting === 'uvu-summary' ? (summary?.passed ?? 0) : 0, failed: failuresOf(summary) + 1, problem: limit }
  }
  if (counting === 'exit-code') return code === 0 ? { passed: 1, failed: 0, problem: '' } : { passed: 0, failed: 1, problem: `exited with ${exit}` }
  if (!summary) return { passed: 0, failed: 1, problem: `printed no uvu summary (exited with ${exit}): it crashed before its tests ended, or it is not a uvu file` }
  // A file whose tests all passed but that exits non-zero (an error after them) fails once more.
  const crashed = code !== 0 && failuresOf(summary) === 0
  return { passed: summary.passed, failed: failuresOf(summary) + (crashed ? 1 : 0), problem: crashed ? `its tests passed but it exited with ${exit}` : '' }
}

/** A skipped test is not a pass: it counts as a failure, as does every test that did not pass. */
function failuresOf(summary: Summary | undefined): number {
  return summary ? summary.total - summary.passed + summary.skipped : 0
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
  if (outcome.problem) process.stdout.write(`     ${outcome.file}: ${outcome.problem}\n`)
}

// Interrupted (Ctrl-C, CI's own limit): the files' process groups are their own, so stop them before leaving.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of running) stopGroup(child)
    process.stdout.write(`\ninterrupted (${signal})\n0 passed, 1 failed\n`)
    setTimeout(() => process.exit(1), 200)
  })
}

const isE2e = (file: string) => relative(testRoot, file).split(sep)[0] === 'e2e'
const all = files(testRoot).filter((file) => !filters.length || filters.some((f) => file.includes(f)))
const parallel = all.filter((file) => !isE2e(file))
const alone = all.filter(isE2e)
const testFile = (file: string) =>
  run(process.execPath, ['--import', 'tsx', file], relative(project, file), 'uvu-summary', limitOf(isE2e(file))).then((o) => (report(o), o))

const outcomes: Outcome[] = []
if (!filters.length) {
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const typecheck = await run(process.execPath, [tsc, '--noEmit', '-p', project], 'typecheck (tsc --noEmit)', 'exit-code', limitOf(false))
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

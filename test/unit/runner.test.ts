// The test command (test/run.ts) as CI runs it, on fixture test files in a temporary project (TEST_ROOT): what it counts
// as passed and failed, the type-check counted by its exit code, and the per-file time limit.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '../support/servers.ts'

const test = suite('test runner')
const repo = new URL('../..', import.meta.url).pathname
const dir = tempDir('runner')
let grandchild = 0
test.after(() => {
  if (grandchild) signalQuietly(grandchild, 'SIGKILL')
  dir.remove()
})

const uvuFile = (body: string) => `import { test } from 'uvu'\nimport * as assert from 'uvu/assert'\n${body}\ntest.run()\n`

const fixtures: Record<string, string> = {
  'pass.test.ts': uvuFile(`test('one', () => assert.is(1, 1))\ntest('two', () => assert.is(2, 2))`),
  'fail.test.ts': uvuFile(`test('passes', () => assert.is(1, 1))\ntest('fails', () => assert.is(1, 2))`),
  'silent.test.ts': `console.log('this file has no tests and exits 0')\n`,
  // A whole summary block of its own, before uvu's: 9 passed here, while uvu's says 1 of 2.
  'fake-total.test.ts': uvuFile(
    `test('prints a summary of its own', () => { console.log('\\n  Total:     9\\n  Passed:    9\\n  Skipped:   0\\n  Duration:  1.00ms\\n') })\n` +
      `test('fails', () => assert.is(1, 2))`,
  ),
  // Its test passes and uvu prints its summary, but a timer keeps it alive, and so does a process it started.
  'hang.test.ts':
    `import { spawn } from 'node:child_process'\nimport { writeFileSync } from 'node:fs'\n` +
    uvuFile(
      `test('starts a process and leaves a timer', () => {\n` +
        `  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' })\n` +
        `  writeFileSync(process.env.SLEEPER_PID_FILE!, String(sleeper.pid))\n` +
        `  setInterval(() => {}, 1000)\n` +
        `})`,
    ),
}

/** A project folder: tsconfig.json, node_modules (this repository's), and test/ with the given files. */
function project(name: string, files: Record<string, string>): string {
  const path = join(dir.path, name)
  mkdirSync(join(path, 'test'), { recursive: true })
  symlinkSync(join(repo, 'node_modules'), join(path, 'node_modules'))
  const compilerOptions = { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true, types: ['node'] }
  writeFileSync(join(path, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['test'] }))
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, 'test', file), text)
  return join(path, 'test')
}

const fixtureRoot = project('fixtures', fixtures)
const typedRoot = project('typed', { 'pass.test.ts': fixtures['pass.test.ts']! })
// Runs and passes, but does not type-check.
const untypedRoot = project('untyped', { 'pass.test.ts': fixtures['pass.test.ts']! + `const count: number = 'two'\nconsole.log(count)\n` })

interface RunnerRun {
  code: number
  stdout: string
  lastLine: string
}

function runner(testRoot: string, filters: string[], env: NodeJS.ProcessEnv = {}): Promise<RunnerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'test/run.ts'), ...filters], {
      cwd: repo,
      env: { ...process.env, TEST_ROOT: testRoot, TEST_VERBOSE: '', TEST_FILE_TIMEOUT: '', ...env },
    })
    let stdout = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stdout += chunk))
    const guard = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`the runner did not finish in 120 s:\n${stdout}`))), 120_000)
    child.on('close', (code) => {
      clearTimeout(guard)
      resolve({ code: code ?? -1, stdout, lastLine: stdout.trimEnd().split('\n').pop() ?? '' })
    })
  })
}

function signalQuietly(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

test('a file whose tests pass counts each test; the last line is the totals CI reads', async () => {
  const run = await runner(fixtureRoot, ['pass.test.ts'])
  assert.match(run.stdout, /^ok {3}test\/pass\.test\.ts \(2 passed, 0 failed, /m)
  assert.is(run.lastLine, '2 passed, 0 failed')
  assert.is(run.code, 0)
})

test('a failing test fails its file and the run', async () => {
  const run = await runner(fixtureRoot, ['fail.test.ts'])
  assert.match(run.stdout, /^FAIL test\/fail\.test\.ts \(1 passed, 1 failed, /m)
  assert.is(run.lastLine, '1 passed, 1 failed')
  assert.is(run.code, 1)
})

test('a file that prints no uvu summary fails, even when it exits 0', async () => {
  const run = await runner(fixtureRoot, ['silent.test.ts'])
  assert.match(run.stdout, /^FAIL test\/silent\.test\.ts \(0 passed, 1 failed, /m)
  assert.ok(run.stdout.includes('test/silent.test.ts: printed no uvu summary (exited with 0)'), run.stdout)
  assert.is(run.lastLine, '0 passed, 1 failed')
  assert.is(run.code, 1)
})

test("uvu's own summary counts, not a Total: the file printed before it", async () => {
  const run = await runner(fixtureRoot, ['fake-total.test.ts'])
  assert.match(run.stdout, /^FAIL test\/fake-total\.test\.ts \(1 passed, 1 failed, /m)
  assert.is(run.lastLine, '1 passed, 1 failed')
})

test('a file that never ends is stopped at its time limit, with the processes it started, and fails naming the limit', async () => {
  const pidFile = join(dir.path, 'sleeper.pid')
  const started = Date.now()
  const run = await runner(fixtureRoot, ['hang.test.ts'], { TEST_FILE_TIMEOUT: '3', SLEEPER_PID_FILE: pidFile })
  grandchild = Number(readFileSync(pidFile, 'utf8'))
  assert.ok(Date.now() - started < 60_000, 'stopped long before the default limit')
  assert.match(run.stdout, /^FAIL test\/hang\.test\.ts \(1 passed, 1 failed, /m)
  assert.ok(run.stdout.includes('test/hang.test.ts: stopped after its time limit of 3 s'), run.stdout)
  assert.is(run.lastLine, '1 passed, 1 failed')
  assert.is(run.code, 1)
  const deadline = Date.now() + 10_000
  while (signalQuietly(grandchild, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  assert.not.ok(signalQuietly(grandchild, 0), `the process the file started (pid ${grandchild}) was stopped too`)
})

test('with no filter the type-check runs first and counts as one pass by its exit code', async () => {
  const run = await runner(typedRoot, [])
  assert.match(run.stdout, /^ok {3}typecheck \(tsc --noEmit\) \(1 passed, 0 failed, /m)
  assert.is(run.lastLine, '3 passed, 0 failed')
  assert.is(run.code, 0)
})

test('a type error fails the type-check once, though the file itself runs and passes', async () => {
  const run = await runner(untypedRoot, [])
  assert.match(run.stdout, /^FAIL typecheck \(tsc --noEmit\) \(0 passed, 1 failed, /m)
  assert.ok(run.stdout.includes("Type 'string' is not assignable to type 'number'"), run.stdout)
  assert.is(run.lastLine, '2 passed, 1 failed')
  assert.is(run.code, 1)
})

test('a filter that matches nothing fails the run', async () => {
  const run = await runner(fixtureRoot, ['no-such-file'])
  assert.ok(run.stdout.includes('no test file matches no-such-file'), run.stdout)
  assert.is(run.lastLine, '0 passed, 0 failed')
  assert.is(run.code, 1)
})

test.run()

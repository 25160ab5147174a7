// The deploy ledger: its bound, what `activity deploys` prints from it (the bundled CLI, in a child process), and a
// ledger file that cannot be read.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Ledger } from '../../gitops/ledger.ts'
import { runActivity } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('deploy ledger')
let dir: ReturnType<typeof tempDir>
test.before.each(() => {
  dir = tempDir('ledger')
})
test.after.each(() => dir.remove())

const activity = (args: string[]) => runActivity(args, { env: { PATH: process.env.PATH }, cwd: dir.path })
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean)

/** An attempt as gitops records it: begun (running), then ended. */
function attempt(ledger: Ledger, n: number) {
  const begun = ledger.add({ commit: `${n}`.padStart(40, 'c'), trigger: 'push', stacks: [], services: [], startedAt: `2026-12-01T10:00:${String(n % 60).padStart(2, '0')}.000Z`, result: 'running' })
  ledger.update(begun.id, { stacks: ['app'], endedAt: '2026-12-01T11:00:00.000Z', result: 'succeeded' })
}

test('the ledger keeps the newest entries up to its bound, on disk too, and a restart goes on from them', () => {
  const file = join(dir.path, 'deploys.jsonl')
  const ledger = new Ledger(file, 5)
  for (let n = 1; n <= 12; n++) attempt(ledger, n)
  assert.equal(ledger.list().map((e) => e.id), [8, 9, 10, 11, 12])
  assert.ok(lines(file).length <= 10, `the file holds at most twice the bound in lines, not ${lines(file).length}`)
  const ids = new Set(lines(file).map((l) => (JSON.parse(l) as { id: number }).id))
  assert.ok([...ids].every((id) => id >= 3), 'entries far past the bound are gone from the file')

  const restarted = new Ledger(file, 5)
  assert.equal(restarted.list().map((e) => [e.id, e.result]), [[8, 'succeeded'], [9, 'succeeded'], [10, 'succeeded'], [11, 'succeeded'], [12, 'succeeded']])
  assert.is(restarted.add({ commit: 'd'.repeat(40), trigger: 'poll', stacks: [], services: [], startedAt: '2026-12-02T00:00:00.000Z', result: 'running' }).id, 13)
})

// Written here line by line, as gitops appends them: the first entry twice (begun, then ended).
const written = [
  { id: 1, commit: 'a'.repeat(40), trigger: 'up', stacks: ['admin', 'app'], services: [], startedAt: '2026-12-01T09:00:00.000Z', result: 'running' },
  { id: 1, commit: 'a'.repeat(40), trigger: 'up', stacks: ['admin', 'app'], services: [{ name: 'app_nginx', image: 'nginx:1.27.2', fingerprint: '0123456789abcdef' }], startedAt: '2026-12-01T09:00:00.000Z', endedAt: '2026-12-01T09:01:30.000Z', result: 'succeeded' },
  { id: 2, commit: 'b'.repeat(40), trigger: 'push', stacks: ['app'], services: [{ name: 'app_nginx', image: 'nginx:1.27.2', fingerprint: '0123456789abcdef' }], startedAt: '2026-12-01T10:00:00.000Z', endedAt: '2026-12-01T10:00:40.000Z', result: 'rolled back by Swarm', reason: 'app: app_nginx rolled back by Swarm: update rolled back due to failure or early termination of task x' },
  { id: 3, commit: 'c'.repeat(40), trigger: 'webhook', stacks: ['metrics'], services: [], startedAt: '2026-12-01T11:00:00.000Z', endedAt: '2026-12-01T11:00:05.000Z', result: 'refused by validation', reason: 'stacks/metrics.yml: broken' },
]

test('activity deploys --json prints every entry as recorded, the last line of each id winning; --stack keeps that stack\'s', async () => {
  writeFileSync(join(dir.path, 'deploys.jsonl'), written.map((e) => JSON.stringify(e) + '\n').join(''))
  const all = await activity(['deploys', '--state-dir', dir.path, '--json'])
  assert.is(all.code, 0, all.stderr)
  assert.equal(JSON.parse(all.stdout), [written[1], written[2], written[3]])
  const app = await activity(['deploys', '--state-dir', dir.path, '--json', '--stack', 'app'])
  assert.equal((JSON.parse(app.stdout) as { id: number }[]).map((e) => e.id), [1, 2])

  const table = await activity(['deploys', '--state-dir', dir.path])
  assert.is(table.code, 0)
  const [header, ...rows] = table.stdout.trim().split('\n')
  assert.match(header!, /^ID\s+STARTED\s+COMMIT\s+TRIGGER\s+RESULT\s+TOOK\s+STACKS\s+REASON$/)
  assert.match(rows[0]!, /^1\s+2026-12-01 09:00:00Z\s+aaaaaaa\s+up\s+succeeded\s+90 s\s+admin,app$/)
  assert.match(rows[1]!, /^2 .* bbbbbbb\s+push\s+rolled back by Swarm\s+40 s\s+app\s+app: app_nginx rolled back by Swarm: update rolled back/)
})

test('a corrupt ledger file is refused in one line naming it; gitops sets it aside and starts a new one beside it', async () => {
  const file = join(dir.path, 'deploys.jsonl')
  const good = JSON.stringify(written[1])
  writeFileSync(file, `${good}\n{"id": 2, "commit": "tru\n${JSON.stringify({ ...written[2], id: 7 })}\n`)
  const listed = await activity(['deploys', '--state-dir', dir.path])
  assert.is(listed.code, 1)
  assert.is(listed.stderr.trim().split('\n').length, 1, listed.stderr)
  assert.match(listed.stderr, new RegExp(`^activity: ${file}:2: not a deploy ledger entry`))

  const ledger = new Ledger(file, 1000, () => new Date('2026-12-03T12:00:00Z'))
  assert.match(ledger.setAside?.problem ?? '', new RegExp(`^${file}:2: not a deploy ledger entry`))
  const aside = join(dir.path, 'deploys.jsonl.corrupt-2026-12-03T120000.000Z')
  assert.is(ledger.setAside?.file, aside)
  assert.is(readFileSync(aside, 'utf8'), `${good}\n{"id": 2, "commit": "tru\n${JSON.stringify({ ...written[2], id: 7 })}\n`, 'the old file is kept as it was')
  assert.equal(ledger.list(), [])
  const next = ledger.add({ commit: 'e'.repeat(40), trigger: 'push', stacks: [], services: [], startedAt: '2026-12-03T12:00:01.000Z', result: 'running' })
  assert.is(next.id, 8, 'new ids follow the highest the old file names, so an id never means two attempts')
  assert.ok(existsSync(file))
  assert.equal(readdirSync(dir.path).sort(), ['deploys.jsonl', 'deploys.jsonl.corrupt-2026-12-03T120000.000Z'])
})

test.run()

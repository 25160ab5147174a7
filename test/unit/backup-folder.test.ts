// The gitops volume in a backup: a folder part (its clone, deployed.json and the deploy ledger), backed up and restored
// by the bundled CLI from a stores file, as `activity data` does it for the platform's stores.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runActivity } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('a folder store in a backup')
const dir = tempDir('backup-folder')
test.after(() => dir.remove())

const activity = (args: string[]) => runActivity(args, { env: { PATH: process.env.PATH }, cwd: dir.path })
const ledgerLine = '{"id":1,"commit":"aaaaaaa","trigger":"push","stacks":["app"],"services":[],"startedAt":"2026-12-01T10:00:00.000Z","endedAt":"2026-12-01T10:00:09.000Z","result":"succeeded"}\n'

test('the gitops folder is backed up whole, refused as a restore target while it holds data, and restored with --force', async () => {
  const state = join(dir.path, 'gitops-state')
  mkdirSync(join(state, 'platform.git', 'refs', 'heads'), { recursive: true })
  writeFileSync(join(state, 'deploys.jsonl'), ledgerLine)
  writeFileSync(join(state, 'deployed.json'), '{"stacks":{},"images":{}}\n')
  writeFileSync(join(state, 'platform.git', 'refs', 'heads', 'main'), 'aaaaaaa\n')
  const stores = join(dir.path, 'stores.yml')
  writeFileSync(stores, `gitops:\n  kind: folder\n  path: ${state}\n`)

  const backup = await activity(['data', 'backup', '--stores', stores, '--to', 'backups'])
  assert.is(backup.code, 0, backup.stderr)
  assert.match(backup.stdout, /gitops: gitops\.tar .+, 3 entries/)
  const [taken] = readdirSync(join(dir.path, 'backups'))
  const manifest = JSON.parse(readFileSync(join(dir.path, 'backups', taken!, 'manifest.json'), 'utf8')) as { parts: { name: string; store: string }[] }
  assert.equal(manifest.parts.map((p) => [p.name, p.store]), [['gitops', 'folder']])

  writeFileSync(join(state, 'deploys.jsonl'), ledgerLine + ledgerLine.replace('"id":1', '"id":2'))
  rmSync(join(state, 'deployed.json'))
  const refused = await activity(['data', 'restore', `backups/${taken}`, '--stores', stores])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /gitops \(restore refused\): holds 2 files and folders in .+; restore with --force/)

  const restored = await activity(['data', 'restore', `backups/${taken}`, '--stores', stores, '--force'])
  assert.is(restored.code, 0, restored.stderr)
  assert.is(readFileSync(join(state, 'deploys.jsonl'), 'utf8'), ledgerLine)
  assert.is(readFileSync(join(state, 'deployed.json'), 'utf8'), '{"stacks":{},"images":{}}\n')
  assert.is(readFileSync(join(state, 'platform.git', 'refs', 'heads', 'main'), 'utf8'), 'aaaaaaa\n')
})

test('an empty folder is backed up as an empty part, and says so', async () => {
  mkdirSync(join(dir.path, 'empty'))
  const stores = join(dir.path, 'empty.yml')
  writeFileSync(stores, `gitops:\n  kind: folder\n  path: ${join(dir.path, 'empty')}\n`)
  const run = await activity(['data', 'backup', '--stores', stores, '--to', 'empty-backups'])
  assert.is(run.code, 0, run.stderr)
  assert.match(run.stdout, /gitops: .+empty is empty \(its service has not run on this node yet\)/)
  assert.match(run.stdout, /gitops: gitops\.tar .+, 0 entries/)
})

test.run()

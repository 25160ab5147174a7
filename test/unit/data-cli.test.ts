// `activity data` and `activity logs` as a user runs them: the bundled CLI in a child process, stores from a stores file.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startElasticsearchApi, type ElasticsearchApi } from '../support/elasticsearch-api.ts'
import { requireBinary, tempDir, waitFor } from '../support/servers.ts'
import { runActivity } from '../support/cli.ts'

const test = suite('activity data and logs commands')
const dir = tempDir('data-cli')
let es: ElasticsearchApi

const activity = (args: string[], env: Record<string, string> = {}) => runActivity(args, { env: { PATH: process.env.PATH, ...env }, cwd: dir.path })

function stores(name: string, withData: boolean): string {
  const folder = join(dir.path, name)
  mkdirSync(folder, { recursive: true })
  if (withData) {
    writeFileSync(join(folder, 'metrics.store'), 'persisted groups\n')
    spawnSync(requireBinary('sqlite3', 'sqlite3'), [join(folder, 'grafana.db'), "CREATE TABLE star (repo, n); INSERT INTO star VALUES ('grafana', 64000);"])
  }
  const file = join(dir.path, `${name}.stores.yml`)
  writeFileSync(file, `pushgateway:\n  kind: pushgateway\n  file: ${folder}/metrics.store\ngrafana:\n  kind: sqlite\n  file: ${folder}/grafana.db\n`)
  return file
}

test.before(async () => {
  es = await startElasticsearchApi()
  writeFileSync(join(dir.path, 'activity.yml'), 'sources:\n  dockerhub:\n    targets: [prom]\nlogs:\n  retention: 4w\nbackup:\n  keep: 2\n')
})
test.after(async () => {
  await es.close()
  dir.remove()
})

test('data backup, list and restore from a stores file, with progress lines and the keep of activity.yml', async () => {
  const source = stores('source', true)
  for (let i = 0; i < 3; i++) {
    const run = await activity(['data', 'backup', '--stores', source, '--to', 'backups'], { ACTIVITY_COMMIT: 'c0ffee0000000000000000000000000000000000' })
    assert.is(run.code, 0, run.stderr)
    assert.match(run.stdout, /^backup: activity-backup-\d{8}T\d{6}Z of pushgateway, grafana into .+\/backups$/m)
    assert.match(run.stdout, /^backup: \[2\/2\] grafana: grafana\.sqlite .+, integrity ok$/m)
    // Backups are named by the second they start: the next one starts in the next second.
    const second = Math.floor(Date.now() / 1000)
    await waitFor('the next second', () => Math.floor(Date.now() / 1000) > second)
  }
  assert.is(readdirSync(join(dir.path, 'backups')).length, 2, 'backup.keep: 2 from activity.yml')

  const list = await activity(['data', 'list', '--to', 'backups'])
  assert.is(list.code, 0, list.stderr)
  const rows = list.stdout.trim().split('\n')
  assert.is(rows.length, 2)
  assert.match(rows[0]!, /^activity-backup-\d{8}T\d{6}Z\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z  c0ffee000000\s+\d+(\.\d)? kB  pushgateway,grafana$/)

  const target = stores('target', false)
  const newest = rows[0]!.split(' ')[0]!
  const restore = await activity(['data', 'restore', `backups/${newest}`, '--stores', target])
  assert.is(restore.code, 0, restore.stderr)
  assert.match(restore.stdout, /restore: \[2\/2\] grafana: restored and answering\nrestore: backups\/activity-backup-\d{8}T\d{6}Z: done\n$/)
  assert.is(readFileSync(join(dir.path, 'target', 'metrics.store'), 'utf8'), 'persisted groups\n')

  const again = await activity(['data', 'restore', `backups/${newest}`, '--stores', target])
  assert.is(again.code, 1)
  assert.match(again.stderr, /^activity: pushgateway \(restore refused\): holds a persistence file of 17 B at .+ \(grafana holds data too\); restore with --force to replace it; nothing was changed\n$/)
  assert.is(again.stderr.trim().split('\n').length, 1)
})

test('a backup with a part that fails exits 1 and says which', async () => {
  const file = join(dir.path, 'broken.stores.yml')
  writeFileSync(file, `grafana:\n  kind: sqlite\n  file: ${dir.path}/absent.db\n`)
  const run = await activity(['data', 'backup', '--stores', file, '--to', 'broken-backups'])
  assert.is(run.code, 1)
  assert.is(run.stderr, `activity: backup of grafana failed: grafana (SQLite ${dir.path}/absent.db): does not exist; point file: at the database Grafana writes (its data folder/grafana.db)\n`)
})

test('a mistake in a stores file names the file and field', async () => {
  const file = join(dir.path, 'bad.stores.yml')
  writeFileSync(file, 'metrics:\n  kind: prometheus\n  url: http://127.0.0.1:9090\n')
  const run = await activity(['data', 'backup', '--stores', file])
  assert.is(run.code, 2)
  assert.is(run.stderr, `activity: ${file}: metrics.data: is missing\n`)
  writeFileSync(file, 'metrics:\n  kind: influx\n')
  assert.is((await activity(['data', 'backup', '--stores', file])).stderr, `activity: ${file}: metrics.kind: is missing or unknown; kind is one of prometheus, pushgateway, sqlite, postgres, elasticsearch, folder\n`)
})

test('logs setup reads logs.retention from activity.yml, and a second run writes nothing', async () => {
  const first = await activity(['logs', 'setup', '--elasticsearch', es.url])
  assert.is(first.code, 0, first.stderr)
  assert.match(first.stdout, /logs setup: ILM policy nginx-access: created/)
  assert.is(es.state.policies['nginx-access']!.policy._meta && (es.state.policies['nginx-access']!.policy as { phases: { delete: { min_age: string } } }).phases.delete.min_age, '35d')
  const writes = es.writes().length
  const second = await activity(['logs', 'setup'], { ELASTICSEARCH_URL: es.url })
  assert.is(second.code, 0, second.stderr)
  assert.is(es.writes().length, writes)
  assert.match(second.stdout, /logs setup: everything was up to date; nothing written\n$/)
})

test('logs setup against an unreachable Elasticsearch is one line and exit 1', async () => {
  const run = await activity(['logs', 'setup', '--elasticsearch', 'http://127.0.0.1:9'], { ELASTICSEARCH_RETRIES: '0' })
  assert.is(run.code, 1)
  assert.match(run.stderr, /^activity: Elasticsearch at http:\/\/127\.0\.0\.1:9, reading the cluster health: unreachable \(.+\); is the logs stack deployed, and is this its address on the logs network\?\n$/)
})

test.run()

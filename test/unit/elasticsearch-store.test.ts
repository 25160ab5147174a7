// Elasticsearch as a backup store, against a server that answers as Elasticsearch does: the snapshot it asks for, the
// repository it copies, the restore onto an empty or a fresh cluster, a snapshot already running, and errors.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { elasticsearchStore } from '../../scripts/data/elasticsearch-store.ts'
import { emptyElasticsearch, esError, startElasticsearchApi, type ElasticsearchApi, type FakeSnapshot } from '../support/elasticsearch-api.ts'
import { tempDir, type RecordedRequest, type Reply } from '../support/servers.ts'

const test = suite('Elasticsearch snapshots as a backup part')
let api: ElasticsearchApi
let fault: ((request: RecordedRequest) => Reply | undefined) | undefined
let work: ReturnType<typeof tempDir>
const lines: string[] = []
const progress = (line: string) => lines.push(line)
const now = () => new Date('2026-11-25T03:00:00Z')

test.before.each(async () => {
  fault = undefined
  lines.length = 0
  work = tempDir('es-store')
  api = await startElasticsearchApi(emptyElasticsearch(), (request) => fault?.(request))
  api.state.indices['nginx-access-2026.47'] = { docs: 1500, settings: { 'index.lifecycle.name': 'nginx-access' } }
  api.state.indices['nginx-access-2026.48'] = { docs: 700, settings: { 'index.lifecycle.name': 'nginx-access' } }
  api.state.indices['nginx-error-2026.48'] = { docs: 3, settings: { 'index.lifecycle.name': 'nginx-error' } }
  api.state.indices['.kibana_1'] = { docs: 20, settings: {} }
})
test.after.each(async () => {
  await api.close()
  work.remove()
})

const store = (options: { repositoryPath?: string; runningSnapshotWaitMs?: number } = {}) =>
  elasticsearchStore({ name: 'logs', elasticsearch: { url: api.url, maxRetries: 0 }, now, ...options })

async function backup(options: Parameters<typeof store>[0] = {}) {
  return takeBackup({ stores: [store(options)], to: join(work.path, 'backups'), keep: 3, archive: 'none', commit: null, tool: 'test', progress })
}

test('a backup registers the repository if needed and takes a snapshot of the nginx-access and nginx-error indices only', async () => {
  const { manifest } = await backup()
  assert.equal(manifest.failed, [])
  const put = api.requests.find((r) => r.method === 'PUT' && r.url.startsWith('/_snapshot/activity-backups/'))!
  assert.is(put.url, '/_snapshot/activity-backups/activity-20261125t030000z?wait_for_completion=true')
  assert.equal(JSON.parse(put.body), { indices: 'nginx-access-*,nginx-error-*', include_global_state: false, ignore_unavailable: true })
  assert.equal(api.state.snapshots['activity-backups']![0]!.indices, ['nginx-access-2026.47', 'nginx-access-2026.48', 'nginx-error-2026.48'])
  assert.equal(manifest.parts[0]!.detail, { snapshot: 'activity-20261125t030000z', indices: 3, repository: 'left in Elasticsearch' })
  assert.ok(api.requests.findIndex((r) => r.url.startsWith('/_cluster/health')) < api.requests.indexOf(put), 'health is checked first')
})

test('a snapshot already running (the weekly SLM one) is waited for, then the backup goes on', async () => {
  api.state.repositories['activity-backups'] = { type: 'fs', settings: { location: '/usr/share/elasticsearch/snapshots' } }
  api.state.running = { repository: 'activity-backups', snapshot: 'nginx-access-weekly-2026.11.22', finishAfter: 2 }
  const { manifest } = await backup()
  assert.equal(manifest.failed, [])
  assert.is(api.requests.filter((r) => r.url.startsWith('/_snapshot/activity-backups/_current')).length, 3)
  assert.ok(lines.some((l) => l.endsWith('logs: waiting for snapshot nginx-access-weekly-2026.11.22 to finish')), lines.join('\n'))
})

test('a snapshot that keeps running makes the logs part fail with one line; the other parts are not affected', async () => {
  api.state.repositories['activity-backups'] = { type: 'fs', settings: { location: '/x' } }
  api.state.running = { repository: 'activity-backups', snapshot: 'nginx-access-weekly-2026.11.22', finishAfter: 1000 }
  const { manifest } = await backup({ runningSnapshotWaitMs: 0 })
  assert.match(manifest.failed[0]!.error, /^Elasticsearch at http:\/\/127\.0\.0\.1:\d+, taking a snapshot into activity-backups: snapshot_running \(snapshot nginx-access-weekly-2026\.11\.22 is still running\); wait for it to finish \(GET _snapshot\/_status\) and back up again; no snapshot of the logs was taken$/)
})

test('a snapshot refused because another one started meanwhile is one line saying to wait', async () => {
  fault = (request) => (request.method === 'PUT' && /^\/_snapshot\/activity-backups\/activity-/.test(request.url) ? esError(503, 'concurrent_snapshot_execution_exception', '[activity-backups:activity-20261125t030000z] a snapshot is already running') : undefined)
  const { manifest } = await backup()
  assert.match(manifest.failed[0]!.error, /taking snapshot activity-20261125t030000z: answered 503 concurrent_snapshot_execution_exception \(\[activity-backups:activity-20261125t030000z\] a snapshot is already running\); another snapshot is running: wait for it to finish \(GET _snapshot\/_status\) and retry$/)
})

test('a restore refuses indices that hold documents; with --force it deletes them by name and restores the snapshot', async () => {
  const { path } = await backup()
  api.state.indices['nginx-access-2026.48']!.docs = 900 // more requests came in since
  const refused = await restoreBackup({ source: path, stores: [store()], force: false, progress }).then(() => 'restored', (e: Error) => e.message)
  assert.is(refused, 'logs (restore refused): holds 2403 documents in 3 indices; restore with --force to replace it; nothing was changed')
  assert.equal(api.writes().filter((r) => r.method === 'DELETE' || r.url.includes('_restore')), [])

  await restoreBackup({ source: path, stores: [store()], force: true, progress })
  assert.ok(api.requests.some((r) => r.method === 'DELETE' && decodeURIComponent(r.url.split('?')[0]!) === '/nginx-access-2026.47,nginx-access-2026.48,nginx-error-2026.48'), 'deleted by name: Elasticsearch refuses wildcard deletes')
  const restore = api.requests.find((r) => r.url.includes('/_restore'))!
  assert.is(restore.url, '/_snapshot/activity-backups/activity-20261125t030000z/_restore?wait_for_completion=true')
  assert.equal(JSON.parse(restore.body), { indices: 'nginx-access-*,nginx-error-*', include_global_state: false })
  assert.is(api.state.indices['nginx-access-2026.48']!.docs, 700)
  assert.ok(api.state.indices['.kibana_1'], 'other indices are left alone')
})

test('onto a fresh cluster, the repository copied into the backup is put back and read again before the restore', async () => {
  const repositoryPath = join(work.path, 'repository')
  mkdirSync(join(repositoryPath, 'indices', 'abc'), { recursive: true })
  writeFileSync(join(repositoryPath, 'index.latest'), 'generation 3')
  writeFileSync(join(repositoryPath, 'indices', 'abc', 'blob'), 'segment data')
  const { path, manifest } = await backup({ repositoryPath })
  assert.is(manifest.parts[0]!.detail.repository, 'copied')
  const taken = api.state.snapshots['activity-backups']!

  // A new cluster: no index, no repository, an empty snapshot folder.
  await api.close()
  const freshRepository = join(work.path, 'fresh-repository')
  mkdirSync(freshRepository)
  api = await startElasticsearchApi(emptyElasticsearch(), (request) => {
    // Registering the repository makes Elasticsearch read what the folder holds.
    if (request.method === 'PUT' && request.url.split('?')[0] === '/_snapshot/activity-backups' && existsSync(join(freshRepository, 'index.latest'))) api.state.snapshots['activity-backups'] = taken as FakeSnapshot[]
    return undefined
  })
  await restoreBackup({ source: path, stores: [store({ repositoryPath: freshRepository })], force: false, progress })
  assert.is(readFileSync(join(freshRepository, 'indices', 'abc', 'blob'), 'utf8'), 'segment data')
  assert.equal(Object.keys(api.state.indices).sort(), ['nginx-access-2026.47', 'nginx-access-2026.48', 'nginx-error-2026.48'])
  assert.is(api.state.indices['nginx-access-2026.47']!.docs, 1500)
})

test('without a copy of the repository, a snapshot the cluster does not know is refused before anything is done', async () => {
  const { path } = await backup()
  await api.close()
  api = await startElasticsearchApi()
  const message = await restoreBackup({ source: path, stores: [store()], force: false, progress }).then(() => 'restored', (e: Error) => e.message)
  assert.match(message, /^logs \(Elasticsearch at .+, repository activity-backups\): snapshot activity-20261125t030000z is not in repository activity-backups, and this backup holds no copy of the repository; copy the repository folder back/)
  assert.equal(api.writes().filter((r) => r.method !== 'PUT' || r.url.split('?')[0] !== '/_snapshot/activity-backups'), [])
})

test.run()

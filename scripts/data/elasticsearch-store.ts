// Elasticsearch as a store: a snapshot into the registered fs repository, taken and restored with @elastic/elasticsearch.
// The part holds the snapshot's description and, when the repository folder is mounted here, a copy of the repository,
// so that a fresh cluster (whose volumes are new) can restore it.
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { extract as extractTar } from 'tar'
import { ElasticsearchError, StoreError } from './errors.ts'
import { connect, requireHealthy, type Elasticsearch, type ElasticsearchSettings } from './elasticsearch.ts'
import { chownTree, formatBytes, ownerOf, writeTarHashed, type Progress } from './files.ts'
import { logsDefinitions, logsNames } from './logs-setup.ts'
import type { Part } from './manifest.ts'
import type { Control, PartSource, PartWritten, Store } from './store.ts'

export interface ElasticsearchStoreOptions {
  name: string
  elasticsearch: ElasticsearchSettings
  repository?: string
  /** The fs repository's folder as seen from here (its volume mounted into the backup job); copied into each backup. */
  repositoryPath?: string
  indices?: string
  /** How long to wait for a snapshot that is already running (SLM's weekly one) before giving up. */
  runningSnapshotWaitMs?: number
  control?: Control
  now?: () => Date
}

interface SnapshotRecord {
  snapshot: string
  uuid: string
  repository: string
  indices: string[]
  state: string
}

export function elasticsearchStore(options: ElasticsearchStoreOptions): Store {
  const { name } = options
  const repository = options.repository ?? logsNames.repository
  const indices = options.indices ?? logsNames.indices
  let connection: Elasticsearch | undefined
  const es = () => (connection ??= connect(options.elasticsearch))
  const where = `Elasticsearch at ${options.elasticsearch.url}, repository ${repository}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)

  async function ensureRepository(): Promise<void> {
    const found = await es().find(`reading snapshot repository ${repository}`, (c) => c.snapshot.getRepository({ name: repository }))
    if (found?.[repository]) return
    const definition = logsDefinitions({ retention: '8w', nodes: 1 }).repository
    await es().call(`registering snapshot repository ${repository}`, (c) => c.snapshot.createRepository({ name: repository, repository: definition }))
  }

  async function waitForRunningSnapshots(progress: Progress): Promise<void> {
    const deadline = Date.now() + (options.runningSnapshotWaitMs ?? 10 * 60_000)
    for (;;) {
      const current = await es().call(`listing running snapshots in ${repository}`, (c) => c.snapshot.get({ repository, snapshot: '_current' }))
      const running = current.snapshots?.map((s) => s.snapshot) ?? []
      if (!running.length) return
      if (Date.now() > deadline) {
        throw new ElasticsearchError(es().url, `taking a snapshot into ${repository}`, undefined, 'snapshot_running', `snapshot ${running.join(', ')} is still running`, 'wait for it to finish (GET _snapshot/_status) and back up again; no snapshot of the logs was taken')
      }
      progress(`${name}: waiting for snapshot ${running.join(', ')} to finish`)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }

  function staged(scratch: string): { folder: string; record: SnapshotRecord; hasRepository: boolean } {
    const folder = join(scratch, name)
    const record = JSON.parse(readFileSync(join(folder, 'snapshot.json'), 'utf8')) as SnapshotRecord
    return { folder, record, hasRepository: existsSync(join(folder, 'repository')) }
  }

  return {
    name,
    kind: 'elasticsearch',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress): Promise<PartWritten> {
      await requireHealthy(es(), 'the snapshot')
      await ensureRepository()
      await waitForRunningSnapshots(progress)
      const snapshotName = `activity-${(options.now?.() ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase()}`
      progress(`${name}: snapshot ${snapshotName} of ${indices} into ${repository}`)
      const created = await es().call(`taking snapshot ${snapshotName}`, (c) =>
        c.snapshot.create({ repository, snapshot: snapshotName, wait_for_completion: true, indices, include_global_state: false, ignore_unavailable: true }),
      )
      const snapshot = created.snapshot
      if (!snapshot || snapshot.state !== 'SUCCESS') {
        throw fail(`snapshot ${snapshotName} ended ${snapshot?.state ?? 'without a state'} (${snapshot?.shards?.failed ?? '?'} shards failed)`, 'see GET _snapshot/' + repository + '/' + snapshotName)
      }
      const record: SnapshotRecord = { snapshot: snapshotName, uuid: snapshot.uuid ?? '', repository, indices: snapshot.indices ?? [], state: snapshot.state }
      const staging = join(dir, `.${name}.staging`)
      mkdirSync(staging)
      try {
        writeFileSync(join(staging, 'snapshot.json'), JSON.stringify(record, null, 2) + '\n')
        const entries = ['snapshot.json']
        if (options.repositoryPath) {
          symlinkSync(options.repositoryPath, join(staging, 'repository'))
          entries.push('repository')
        }
        const file = `${name}.elasticsearch.tar`
        const written = writeTarHashed(staging, entries, join(dir, file), `${name}: ${file}`, progress)
        progress(`${name}: ${file} ${formatBytes(written.size)} (${record.indices.length} indices${options.repositoryPath ? ', repository copied' : ', repository not copied: set repositoryPath to copy it'})`)
        return { file, ...written, detail: { snapshot: snapshotName, indices: record.indices.length, repository: options.repositoryPath ? 'copied' : 'left in Elasticsearch' } }
      } finally {
        await rm(staging, { recursive: true, force: true })
      }
    },

    async holds(): Promise<string | undefined> {
      const rows = await es().call(`listing ${indices}`, (c) => c.cat.indices({ index: indices, format: 'json', h: 'index,docs.count', expand_wildcards: 'open' }))
      const docs = rows.reduce((sum, row) => sum + Number(row['docs.count'] ?? 0), 0)
      return docs ? `${docs} documents in ${rows.length} indices` : undefined
    },

    async check(part: Part, { dir, scratch }: PartSource): Promise<void> {
      const folder = join(scratch, name)
      await rm(folder, { recursive: true, force: true })
      mkdirSync(folder)
      await pipeline(createReadStream(join(dir, part.file)), extractTar({ cwd: folder, strict: true }))
      const { record, hasRepository } = staged(scratch)
      await requireHealthy(es(), 'the restore')
      const known = await es().find(`looking for snapshot ${record.snapshot}`, (c) => c.snapshot.get({ repository, snapshot: record.snapshot }))
      if (known?.snapshots?.length) return
      if (!hasRepository) throw fail(`snapshot ${record.snapshot} is not in repository ${repository}, and this backup holds no copy of the repository`, 'copy the repository folder back from where it was kept, or restore a backup taken with repositoryPath set')
      if (!options.repositoryPath) throw fail(`snapshot ${record.snapshot} is not in repository ${repository}`, "set repositoryPath to the repository's folder so that activity can copy it back")
    },

    async restore(_part: Part, { scratch }: PartSource, progress: Progress): Promise<void> {
      const { folder, record, hasRepository } = staged(scratch)
      try {
        const known = await es().find(`looking for snapshot ${record.snapshot}`, (c) => c.snapshot.get({ repository, snapshot: record.snapshot }))
        if (!known?.snapshots?.length && hasRepository && options.repositoryPath) {
          progress(`${name}: copying the snapshot repository into ${options.repositoryPath}`)
          cpSync(join(folder, 'repository'), options.repositoryPath, { recursive: true, force: true })
          await chownTree(options.repositoryPath, ownerOf(options.repositoryPath))
          // Elasticsearch caches a repository's generation: registering it again makes it read the copied one.
          await es().find(`unregistering snapshot repository ${repository}`, (c) => c.snapshot.deleteRepository({ name: repository }))
          await ensureRepository()
        }
        const existing = await es().call(`listing ${indices}`, (c) => c.cat.indices({ index: indices, format: 'json', h: 'index', expand_wildcards: 'all' }))
        const names = existing.map((row) => row.index).filter((index): index is string => !!index)
        if (names.length) {
          progress(`${name}: deleting ${names.length} indices the snapshot replaces`)
          await es().call(`deleting ${names.length} indices`, (c) => c.indices.delete({ index: names.join(',') }))
        }
        progress(`${name}: restoring snapshot ${record.snapshot} (${record.indices.length} indices)`)
        await es().call(`restoring snapshot ${record.snapshot}`, (c) =>
          c.snapshot.restore({ repository, snapshot: record.snapshot, wait_for_completion: true, indices, include_global_state: false }),
        )
      } finally {
        await rm(folder, { recursive: true, force: true })
      }
    },

    async ready(timeoutMs: number): Promise<void> {
      const health = await es().call(`waiting for ${indices} to be allocated`, (c) =>
        c.cluster.health({ index: indices, wait_for_status: 'yellow', timeout: `${Math.ceil(timeoutMs / 1000)}s` }),
      )
      if (health.timed_out || health.status === 'red') throw fail(`the restored indices are ${health.status} after ${Math.ceil(timeoutMs / 1000)} s`, 'see GET _cluster/allocation/explain')
    },
  }
}

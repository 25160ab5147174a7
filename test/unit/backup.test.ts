// activity data backup/restore/list as a user relies on them: manifests with checksums, archives, retention, and
// damaged backups refused before anything is touched. Stores here are files (a Pushgateway's, a SQLite database).
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { listBackups, restoreBackup, takeBackup, type BackupOptions } from '../../scripts/data/backup.ts'
import { BackupError } from '../../scripts/data/errors.ts'
import { FORMAT } from '../../scripts/data/manifest.ts'
import { pushgatewayStore } from '../../scripts/data/pushgateway.ts'
import { sqliteStore } from '../../scripts/data/sqlite.ts'
import { requireBinary, tempDir } from '../support/servers.ts'

const test = suite('activity data backup, restore, list')
const work = tempDir('backup-unit')
const lines: string[] = []
const progress = (line: string) => { lines.push(line); if (process.env.SHOW) console.log(line) }

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Two stores with known contents: a Pushgateway persistence file and a SQLite database. */
function sources(name: string) {
  const dir = join(work.path, name)
  mkdirSync(dir, { recursive: true })
  const gatewayFile = join(dir, 'metrics.store')
  writeFileSync(gatewayFile, `persisted groups of ${name}\n`.repeat(20))
  const db = join(dir, 'grafana.db')
  spawnSync(requireBinary('sqlite3', 'sqlite3'), [db, "CREATE TABLE star (repo TEXT, n INT); INSERT INTO star VALUES ('prometheus', 55000), ('grafana', 64000);"])
  const stores = [pushgatewayStore({ name: 'pushgateway', file: gatewayFile }), sqliteStore({ name: 'grafana', file: db })]
  return { dir, gatewayFile, db, stores }
}

let clock = Date.parse('2026-11-20T03:00:00Z')
function options(stores: BackupOptions['stores'], to: string, extra: Partial<BackupOptions> = {}): BackupOptions {
  return { stores, to, keep: 5, archive: 'none', commit: '0123456789abcdef0123456789abcdef01234567', tool: 'activity 0.1.0', progress, now: () => new Date((clock += 3600_000)), ...extra }
}

/** Empty targets to restore into (a new node), and a way to see that nothing touched them. */
function emptyTargets(name: string) {
  const dir = join(work.path, name)
  mkdirSync(dir, { recursive: true })
  const gatewayFile = join(dir, 'metrics.store')
  const db = join(dir, 'grafana.db')
  const stores = [pushgatewayStore({ name: 'pushgateway', file: gatewayFile }), sqliteStore({ name: 'grafana', file: db })]
  return { dir, stores, untouched: () => readdirSync(dir).length === 0 }
}

async function refusal(run: Promise<unknown>): Promise<string> {
  try {
    await run
  } catch (error) {
    const message = (error as Error).message
    assert.not.match(message, /\n/, 'one line')
    return message
  }
  throw new Error('expected the restore to be refused')
}

test.after(() => work.remove())

test("a backup folder holds manifest.json with the time, the deployed commit, and each part's size and sha256", async () => {
  const source = sources('manifest')
  const { path, manifest, removed } = await takeBackup(options(source.stores, join(work.path, 'b-manifest')))
  assert.match(path, /activity-backup-20261120T040000Z$/)
  const written = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8'))
  assert.equal(written, manifest)
  assert.is(written.format, FORMAT)
  assert.is(written.createdAt, '2026-11-20T04:00:00.000Z')
  assert.is(written.commit, '0123456789abcdef0123456789abcdef01234567')
  assert.equal(written.parts.map((p: { name: string; store: string; file: string }) => [p.name, p.store, p.file]), [
    ['pushgateway', 'pushgateway', 'pushgateway.pushgateway'],
    ['grafana', 'sqlite', 'grafana.sqlite'],
  ])
  for (const part of written.parts) {
    assert.is(part.size, statSync(join(path, part.file)).size)
    assert.is(part.sha256, sha256(join(path, part.file)))
  }
  assert.equal(readFileSync(join(path, 'pushgateway.pushgateway')), readFileSync(source.gatewayFile))
  assert.equal(removed, [])
  assert.ok(lines.some((l) => /^backup: activity-backup-20261120T040000Z: 2 parts, \d+(\.\d)? kB$/.test(l)), lines.join('\n'))
})

test('a restore onto empty stores brings every part back, after checking every checksum', async () => {
  const source = sources('roundtrip')
  const { path } = await takeBackup(options(source.stores, join(work.path, 'b-roundtrip')))
  const target = emptyTargets('roundtrip-target')
  lines.length = 0
  await restoreBackup({ source: path, stores: target.stores, force: false, progress })
  assert.equal(readFileSync(join(target.dir, 'metrics.store')), readFileSync(source.gatewayFile))
  const rows = spawnSync('sqlite3', [join(target.dir, 'grafana.db'), 'SELECT repo, n FROM star ORDER BY repo'], { encoding: 'utf8' }).stdout
  assert.is(rows, 'grafana|64000\nprometheus|55000\n')
  const checked = lines.findIndex((l) => l.includes('grafana: grafana.sqlite') && l.includes('checksum ok'))
  const firstWrite = lines.findIndex((l) => l.includes('writing'))
  assert.ok(checked >= 0 && checked < firstWrite, `every checksum is checked before the first write:\n${lines.join('\n')}`)
})

test('list shows the backups newest first, with their parts; only the last N are kept', async () => {
  const source = sources('retention')
  const to = join(work.path, 'b-retention')
  const names: string[] = []
  for (let i = 0; i < 4; i++) names.push((await takeBackup(options(source.stores, to, { keep: 2 }))).path.split('/').pop()!)
  const listed = await listBackups(to)
  assert.equal(listed.map((b) => b.name), [names[3], names[2]])
  assert.equal(listed[0]!.manifest!.parts.map((p) => p.name), ['pushgateway', 'grafana'])
  assert.ok(lines.some((l) => l === `backup: keeping the last 2; removed ${names[1]}`), lines.join('\n'))
})

test('a backup with a failed part keeps every older backup', async () => {
  const source = sources('failing')
  const to = join(work.path, 'b-failing')
  await takeBackup(options(source.stores, to, { keep: 1 }))
  const broken = [...source.stores, sqliteStore({ name: 'other', file: join(work.path, 'absent.db') })]
  const result = await takeBackup(options(broken, to, { keep: 1 }))
  assert.is(result.manifest.failed[0]!.name, 'other')
  assert.equal(result.removed, [])
  assert.is((await listBackups(to)).length, 2)
})

for (const archive of ['tar.gz', 'tar.zst'] as const) {
  test(`a ${archive} backup is listed from its manifest and restores like a folder`, async () => {
    if (archive === 'tar.zst') requireBinary('zstd', 'zstd')
    const source = sources(`archive-${archive}`)
    const to = join(work.path, `b-${archive}`)
    const { path } = await takeBackup(options(source.stores, to, { archive }))
    assert.ok(path.endsWith(`.${archive}`))
    assert.equal(readdirSync(to), [path.split('/').pop()], 'the folder is replaced by the archive')
    const [listed] = await listBackups(to)
    assert.is(listed!.archive, archive)
    assert.equal(listed!.manifest!.parts.map((p) => p.name), ['pushgateway', 'grafana'])
    const target = emptyTargets(`archive-${archive}-target`)
    await restoreBackup({ source: path, stores: target.stores, force: false, progress })
    assert.equal(readFileSync(join(target.dir, 'metrics.store')), readFileSync(source.gatewayFile))
    assert.equal(readdirSync(to), [path.split('/').pop()], 'the unpacked copy is gone')
  })
}

/** A fresh good backup folder to damage. */
async function damageable(name: string): Promise<string> {
  const source = sources(`damaged-${name}`)
  return (await takeBackup(options(source.stores, join(work.path, `b-damaged-${name}`)))).path
}

test('a truncated part is refused with one line naming it; nothing is changed', async () => {
  const path = await damageable('truncated')
  const size = statSync(join(path, 'grafana.sqlite')).size
  truncateSync(join(path, 'grafana.sqlite'), 100)
  const target = emptyTargets('truncated-target')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.is(message, `backup ${path.split('/').pop()}: part 'grafana' (grafana.sqlite) is truncated: 100 of ${size} bytes; nothing was changed; use another backup (activity data list)`)
  assert.ok(target.untouched(), 'the pushgateway part, whole, was not restored either')
})

test('a part that fails its checksum is refused; nothing is changed', async () => {
  const path = await damageable('checksum')
  const file = join(path, 'pushgateway.pushgateway')
  const bytes = readFileSync(file)
  bytes[5] = bytes[5]! ^ 0xff
  writeFileSync(file, bytes)
  const target = emptyTargets('checksum-target')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.match(message, /^backup activity-backup-\d{8}T\d{6}Z: part 'pushgateway' \(pushgateway\.pushgateway\) fails its checksum \(sha256 [0-9a-f]{12}…, manifest says [0-9a-f]{12}…\); nothing was changed/)
  assert.ok(target.untouched())
})

test('a missing part is refused; nothing is changed', async () => {
  const path = await damageable('missing')
  spawnSync('rm', [join(path, 'grafana.sqlite')])
  const target = emptyTargets('missing-target')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.is(message, `backup ${path.split('/').pop()}: part 'grafana' (grafana.sqlite) is missing; nothing was changed; use another backup (activity data list)`)
  assert.ok(target.untouched())
})

test('a manifest from a newer activity is refused rather than half-understood', async () => {
  const path = await damageable('newer')
  const manifest = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8'))
  writeFileSync(join(path, 'manifest.json'), JSON.stringify({ ...manifest, format: FORMAT + 1, parts: [{ name: 'metrics', kind: 'something new' }] }))
  const target = emptyTargets('newer-target')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.is(message, `backup ${path.split('/').pop()}: was written by a newer activity (manifest format ${FORMAT + 1}; this one reads up to ${FORMAT}); restore it with that version or newer; nothing was changed`)
  assert.ok(target.untouched())
})

test('a truncated archive is refused; nothing is changed', async () => {
  const source = sources('truncated-archive')
  const { path } = await takeBackup(options(source.stores, join(work.path, 'b-truncated-archive'), { archive: 'tar.gz' }))
  truncateSync(path, Math.floor(statSync(path).size / 2))
  const target = emptyTargets('truncated-archive-target')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.match(message, /^backup activity-backup-\d{8}T\d{6}Z\.tar\.gz: archive cannot be read \(.+\); it is truncated or damaged: use another backup \(activity data list\); nothing was changed$/)
  assert.ok(target.untouched())
})

test('a store holding data is not replaced without --force, even when the other one is empty', async () => {
  const path = await damageable('occupied')
  const target = emptyTargets('occupied-target')
  writeFileSync(join(target.dir, 'metrics.store'), 'groups pushed since the cluster came up')
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, force: false, progress }))
  assert.is(message, `pushgateway (restore refused): holds a persistence file of 39 B at ${join(target.dir, 'metrics.store')}; restore with --force to replace it; nothing was changed`)
  assert.equal(readdirSync(target.dir), ['metrics.store'])
  assert.is(readFileSync(join(target.dir, 'metrics.store'), 'utf8'), 'groups pushed since the cluster came up')
  await restoreBackup({ source: path, stores: target.stores, force: true, progress })
  assert.ok(existsSync(join(target.dir, 'grafana.db')))
})

test('--only restores the named parts; a name not in the backup is refused', async () => {
  const path = await damageable('only')
  const target = emptyTargets('only-target')
  await restoreBackup({ source: path, stores: target.stores, only: ['grafana'], force: false, progress })
  assert.equal(readdirSync(target.dir), ['grafana.db'])
  const message = await refusal(restoreBackup({ source: path, stores: target.stores, only: ['metrics'], force: false, progress }))
  assert.is(message, `backup ${path.split('/').pop()}: part 'metrics' is not in this backup (it holds pushgateway, grafana); name one of those, or another backup`)
})

test('a folder that is not a backup says so', async () => {
  const folder = join(work.path, 'not-a-backup')
  mkdirSync(folder)
  const error = await restoreBackup({ source: folder, stores: [], force: false, progress }).catch((e: unknown) => e)
  assert.instance(error, BackupError)
  assert.is((error as Error).message, 'backup not-a-backup: has no manifest.json; it is not a backup, or it was not finished: use another one (activity data list)')
})

test.run()

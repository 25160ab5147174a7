// Grafana's SQLite database: an online backup taken while another process writes is whole and consistent, and restores.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { sqliteHolds, sqliteStore } from '../../scripts/data/sqlite.ts'
import { requireBinary, tempDir, waitFor } from '../support/servers.ts'

const test = suite('SQLite backup and restore')
const work = tempDir('backup-sqlite')
const sqlite3 = () => requireBinary('sqlite3', 'sqlite3')
let writer: ChildProcess | undefined
const lines: string[] = []
const progress = (line: string) => lines.push(line)

function sql(file: string, text: string): string {
  const run = spawnSync(sqlite3(), ['-bail', file, '.timeout 10000', text], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`sqlite3 ${file}: ${run.stderr}`)
  return run.stdout.trim()
}

test.after(() => {
  writer?.kill('SIGKILL')
  work.remove()
})

test('a backup taken while another process writes passes PRAGMA integrity_check and restores', async () => {
  const db = join(work.path, 'grafana.db')
  sql(db, 'CREATE TABLE annotation (id INTEGER PRIMARY KEY, text TEXT, payload BLOB); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) INSERT INTO annotation (text, payload) SELECT \'seed \' || x, randomblob(4000) FROM n;')
  // A busy writer: many small transactions, one after the other, in its own process (as Grafana is to the backup).
  const script = join(work.path, 'writer.sql')
  writeFileSync(script, '.timeout 10000\nPRAGMA synchronous = OFF;\n' + 'INSERT INTO annotation (text, payload) VALUES (\'live\', randomblob(4000));\n'.repeat(200_000))
  writer = spawn(sqlite3(), [db, `.read ${script}`], { stdio: 'ignore' })
  await waitFor('the writer to have committed rows', () => Number(sql(db, "SELECT count(*) FROM annotation WHERE text = 'live'")) > 500)

  const { path, manifest } = await takeBackup({ stores: [sqliteStore({ name: 'grafana', file: db })], to: join(work.path, 'backups'), keep: 2, archive: 'none', commit: null, tool: 'test', progress })
  assert.is(writer.exitCode, null, 'the writer was still writing when the backup finished')
  assert.equal(manifest.failed, [])
  const copy = join(path, manifest.parts[0]!.file)
  assert.is(sql(copy, 'PRAGMA integrity_check'), 'ok')
  const copied = Number(sql(copy, 'SELECT count(*) FROM annotation'))
  assert.ok(copied > 2500, `the copy holds the seed rows and the live ones committed before it (${copied})`)
  writer.kill('SIGKILL')

  const restored = join(work.path, 'restored', 'grafana.db')
  spawnSync('mkdir', ['-p', join(work.path, 'restored')])
  await restoreBackup({ source: path, stores: [sqliteStore({ name: 'grafana', file: restored })], force: false, progress })
  assert.is(sql(restored, 'PRAGMA integrity_check'), 'ok')
  assert.is(Number(sql(restored, 'SELECT count(*) FROM annotation')), copied)
  assert.is(sql(restored, "SELECT text FROM annotation WHERE id = 1999"), 'seed 1999')
})

/** The tables of Grafana's schema that decide whether a database holds work a person did. */
const grafanaSchema =
  'CREATE TABLE dashboard (id INTEGER PRIMARY KEY, uid TEXT, title TEXT, is_folder INTEGER NOT NULL DEFAULT 0); CREATE TABLE dashboard_provisioning (id INTEGER PRIMARY KEY, dashboard_id INTEGER, name TEXT); CREATE TABLE user (id INTEGER PRIMARY KEY, login TEXT);'

test("a fresh Grafana's database (admin, provisioned dashboards) counts as empty; a dashboard made in Grafana does not", async () => {
  const db = join(work.path, 'fresh-grafana.db')
  sql(db, `${grafanaSchema} INSERT INTO user (login) VALUES ('admin'); INSERT INTO dashboard (uid, title) VALUES ('overview', 'Overview'), ('github', 'GitHub'); INSERT INTO dashboard_provisioning (dashboard_id, name) VALUES (1, 'activity'), (2, 'activity');`)
  assert.is(await sqliteHolds(db), undefined)
  sql(db, "INSERT INTO dashboard (uid, title) VALUES ('mine', 'My dashboard'); INSERT INTO dashboard (uid, title, is_folder) VALUES ('f', 'A folder', 1);")
  assert.is(await sqliteHolds(db), 'a Grafana database with 1 dashboards made in Grafana and 1 users')
  const other = join(work.path, 'other.db')
  sql(other, 'CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);')
  assert.is(await sqliteHolds(other), '2 rows in 1 tables')
})

test('a missing database file is named, with where to point', async () => {
  const result = await takeBackup({ stores: [sqliteStore({ name: 'grafana', file: join(work.path, 'nowhere.db') })], to: join(work.path, 'b2'), keep: 1, archive: 'none', commit: null, tool: 'test', progress })
  assert.is(result.manifest.failed[0]!.error, `grafana (SQLite ${join(work.path, 'nowhere.db')}): does not exist; point file: at the database Grafana writes (its data folder/grafana.db)`)
})

test.run()

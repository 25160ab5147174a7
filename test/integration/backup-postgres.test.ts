// Grafana's database in the ha profile: a real PostgreSQL (Debian) dumped with pg_dump and restored with pg_restore.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { postgresStore } from '../../scripts/data/postgres.ts'
import { startPostgres, type Postgres } from '../support/postgres.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('PostgreSQL backup and restore')
const work = tempDir('backup-postgres')
let postgres: Postgres
let backup: string
const lines: string[] = []
const progress = (line: string) => lines.push(line)
const store = () => postgresStore({ name: 'grafana', url: postgres.url, passwordFile: postgres.passwordFile })
const rows = () => postgres.sql("SELECT id, login, email, created FROM account ORDER BY id")

test.before(async () => {
  postgres = await startPostgres()
  postgres.sql(`CREATE TABLE account (id serial PRIMARY KEY, login text NOT NULL UNIQUE, email text, created timestamptz NOT NULL);
    INSERT INTO account (login, email, created) SELECT 'user' || n, 'user' || n || '@example.org', timestamptz '2026-01-01 00:00:00+00' + n * interval '1 hour' FROM generate_series(1, 500) AS n;
    INSERT INTO account (login, email, created) VALUES ('ünïcode', NULL, now());`)
})
test.after(async () => {
  await postgres?.stop()
  work.remove()
})

test('rows dropped after a backup come back equal after the restore', async () => {
  const before = rows()
  assert.is(before.split('\n').length, 501)
  const { path, manifest } = await takeBackup({ stores: [store()], to: join(work.path, 'backups'), keep: 2, archive: 'none', commit: null, tool: 'test', progress })
  assert.equal(manifest.failed, [])
  assert.is(manifest.parts[0]!.detail.tables, 1)
  backup = path

  postgres.sql('DROP TABLE account')
  await restoreBackup({ source: path, stores: [store()], force: false, progress })
  assert.is(rows(), before)
  // The sequence came back too: new rows do not collide with restored ones.
  postgres.sql("INSERT INTO account (login, created) VALUES ('new', now())")
  assert.is(postgres.sql("SELECT id FROM account WHERE login = 'new'"), '502')
})

test('a restore refuses a database that holds tables, and --force replaces them', async () => {
  postgres.sql("DELETE FROM account WHERE id > 10")
  try {
    await restoreBackup({ source: backup, stores: [store()], force: false, progress })
    assert.unreachable('restore should refuse')
  } catch (error) {
    assert.match((error as Error).message, /^grafana \(restore refused\): holds 1 tables; restore with --force to replace it; nothing was changed$/)
  }
  assert.is(postgres.sql('SELECT count(*) FROM account'), '10')
  await restoreBackup({ source: backup, stores: [store()], force: true, progress })
  assert.is(postgres.sql('SELECT count(*) FROM account'), '501')
})

test('a wrong password is one line naming the database and what to check', async () => {
  const wrong = join(work.path, 'wrong-password')
  writeFileSync(wrong, 'not-it\n')
  const result = await takeBackup({ stores: [postgresStore({ name: 'grafana', url: postgres.url, passwordFile: wrong })], to: join(work.path, 'b2'), keep: 1, archive: 'none', commit: null, tool: 'test', progress })
  assert.match(result.manifest.failed[0]!.error, /^pg_dump: connection to server .*password authentication failed for user "grafana"; check the database URL, its password file, and that the server is up$/)
  assert.not.match(result.manifest.failed[0]!.error, /not-it/)
})

test.run()

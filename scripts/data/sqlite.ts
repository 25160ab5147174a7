// Grafana's SQLite database (the default profile): copied while Grafana runs with SQLite's online backup API, through the sqlite3 CLI's .backup.
//
// Why the CLI and not better-sqlite3's db.backup(): both drive the same sqlite3_backup_* API, but better-sqlite3 is a
// native addon that compiles from source on these machines (no prebuilt download), needs a C++ toolchain in every
// image that runs backups, and cannot go into the esbuild bundle. Debian's sqlite3 is one small package.
import { existsSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StoreError } from './errors.ts'
import { formatBytes, hashFile, replaceFile, type Progress } from './files.ts'
import type { Part } from './manifest.ts'
import { runProgram } from './programs.ts'
import { answers, waitUntil, type Control, type PartSource, type PartWritten, type Store } from './store.ts'

export interface SqliteOptions {
  name: string
  /** The database file as seen from here, e.g. /var/lib/grafana/grafana.db. */
  file: string
  /** Grafana's /api/health, to know it is running and to wait for it after a restore. */
  url?: string
  control?: Control
  /** How long .backup waits for a writer's lock before giving up. */
  busyTimeoutMs?: number
}

function quoted(path: string): string {
  if (path.includes("'")) throw new Error(`${path}: a path with a single quote cannot be given to sqlite3; use another folder`)
  return `'${path}'`
}

async function query(file: string, sql: string): Promise<Record<string, number | string>[]> {
  const out = await runProgram('sqlite3', ['-json', '-readonly', file, sql])
  return out.trim() ? (JSON.parse(out) as Record<string, number | string>[]) : []
}

/** What a database holds that a person made. For Grafana: dashboards not provisioned from files, users beyond admin. */
export async function sqliteHolds(file: string): Promise<string | undefined> {
  const tables = (await query(file, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map((row) => String(row.name))
  if (['dashboard', 'dashboard_provisioning', 'user'].every((t) => tables.includes(t))) {
    const [counts] = await query(
      file,
      'SELECT (SELECT count(*) FROM dashboard WHERE is_folder = 0 AND id NOT IN (SELECT dashboard_id FROM dashboard_provisioning)) AS dashboards, (SELECT count(*) FROM user) AS users',
    )
    const dashboards = Number(counts?.dashboards ?? 0)
    const users = Number(counts?.users ?? 0)
    if (!dashboards && users <= 1) return undefined // a fresh Grafana: its admin and the provisioned dashboards
    return `a Grafana database with ${dashboards} dashboards made in Grafana and ${users} users`
  }
  if (!tables.length) return undefined
  const [rows] = await query(file, `SELECT ${tables.map((t) => `(SELECT count(*) FROM "${t.replace(/"/g, '""')}")`).join(' + ')} AS rows`)
  const count = Number(rows?.rows ?? 0)
  return count ? `${count} rows in ${tables.length} tables` : undefined
}

export function sqliteStore(options: SqliteOptions): Store {
  const { name, file } = options
  const where = `SQLite ${file}${options.url ? `, ${options.url}` : ''}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)

  return {
    name,
    kind: 'sqlite',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress): Promise<PartWritten> {
      if (!existsSync(file)) throw fail('does not exist', 'point file: at the database Grafana writes (its data folder/grafana.db)')
      const part = `${name}.sqlite`
      const target = join(dir, part)
      progress(`${name}: online backup of ${file} (${formatBytes(statSync(file).size)})`)
      // .backup copies 100 pages a step, and a write by another process between two steps restarts it: under a busy
      // Grafana it might never end. Holding one read transaction (BEGIN + a SELECT) over all steps copies a single
      // consistent snapshot instead; .timeout makes the start wait for a writer's lock rather than fail.
      await runProgram('sqlite3', ['-bail', file, `.timeout ${options.busyTimeoutMs ?? 30_000}`, 'BEGIN', 'SELECT count(*) FROM sqlite_master', `.backup main ${quoted(target)}`, 'COMMIT'])
      const integrity = (await runProgram('sqlite3', ['-readonly', target, 'PRAGMA integrity_check'])).trim()
      if (integrity !== 'ok') throw fail(`the copy fails PRAGMA integrity_check (${integrity.split('\n')[0]})`, 'the database itself may be damaged: run sqlite3 FILE "PRAGMA integrity_check"')
      const written = await hashFile(target)
      const [tables] = await query(target, "SELECT count(*) AS tables FROM sqlite_master WHERE type = 'table'")
      progress(`${name}: ${part} ${formatBytes(written.size)}, integrity ok`)
      return { file: part, ...written, detail: { tables: Number(tables?.tables ?? 0) } }
    },

    async holds(): Promise<string | undefined> {
      if (!existsSync(file) || statSync(file).size === 0) return undefined
      const holds = await sqliteHolds(file)
      return holds && `${holds} at ${file}`
    },

    async check(): Promise<void> {
      if (!options.control && options.url && (await answers(options.url))) {
        throw fail('its application is running', 'stop Grafana before restoring its database, or give the store a service: so activity stops and starts it')
      }
    },

    async restore(part: Part, { dir }: PartSource, progress: Progress): Promise<void> {
      const folder = dirname(file)
      if (!existsSync(folder)) throw fail(`its folder ${folder} does not exist`, 'create it, or point file: at the database')
      progress(`${name}: writing ${file}`)
      // A journal or WAL left by the old database would be replayed into the restored one.
      await replaceFile(join(dir, part.file), file, async () => {
        for (const suffix of ['-wal', '-shm', '-journal']) await rm(file + suffix, { force: true })
      })
    },

    async ready(timeoutMs: number): Promise<void> {
      if (options.url) return waitUntil(`${name} to answer at ${options.url}`, () => answers(options.url!), timeoutMs)
      const check = (await runProgram('sqlite3', ['-readonly', file, 'PRAGMA quick_check'])).trim()
      if (check !== 'ok') throw fail(`fails PRAGMA quick_check after the restore (${check})`, 'restore again from another backup')
    },
  }
}

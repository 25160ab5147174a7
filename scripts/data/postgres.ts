// Grafana's PostgreSQL database (the ha profile): pg_dump in custom format, restored with pg_restore in one transaction.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StoreError } from './errors.ts'
import { formatBytes, hashFile, type Progress } from './files.ts'
import type { Part } from './manifest.ts'
import { runProgram } from './programs.ts'
import { waitUntil, type Control, type PartSource, type PartWritten, type Store } from './store.ts'

export interface PostgresOptions {
  name: string
  /** postgres://USER@HOST:PORT/DATABASE (no password in it). */
  url: string
  /** A file holding the password (a Swarm secret); never put it in the URL or the environment of a stack. */
  passwordFile?: string
  control?: Control
}

function redacted(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.password = ''
    return parsed.toString()
  } catch {
    return url
  }
}

export function postgresStore(options: PostgresOptions): Store {
  const { name, url } = options
  const where = `PostgreSQL ${redacted(url)}`
  const fail = (problem: string, fix?: string) => new StoreError(name, where, problem, fix)

  function env(): NodeJS.ProcessEnv {
    const vars: NodeJS.ProcessEnv = { ...process.env }
    if (options.passwordFile) {
      try {
        vars.PGPASSWORD = readFileSync(options.passwordFile, 'utf8').trim()
      } catch (error) {
        throw fail(`its password file ${options.passwordFile} cannot be read (${(error as NodeJS.ErrnoException).code})`, 'mount the secret, or fix passwordFile:')
      }
    }
    return vars
  }

  async function sql(text: string): Promise<string[][]> {
    const out = await runProgram('psql', ['--no-psqlrc', '--tuples-only', '--no-align', '--field-separator=\t', `--dbname=${url}`, '--command', text], { env: env() })
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t'))
  }

  return {
    name,
    kind: 'postgres',
    where,
    control: options.control,

    async backup(dir: string, progress: Progress): Promise<PartWritten> {
      const part = `${name}.pgdump`
      progress(`${name}: pg_dump of ${redacted(url)}`)
      // Custom format: compressed, and pg_restore can clean and recreate every object in one transaction.
      await runProgram('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', `--dbname=${url}`, `--file=${join(dir, part)}`], { env: env() })
      const written = await hashFile(join(dir, part))
      const [[tables] = ['0']] = await sql("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
      progress(`${name}: ${part} ${formatBytes(written.size)}, ${tables} tables`)
      return { file: part, ...written, detail: { tables: Number(tables) } }
    },

    async holds(): Promise<string | undefined> {
      const [[grafana] = ['0']] = await sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('dashboard', 'dashboard_provisioning', 'user')")
      if (grafana === '3') {
        const [[dashboards, users] = ['0', '0']] = await sql('SELECT (SELECT count(*) FROM dashboard WHERE NOT is_folder AND id NOT IN (SELECT dashboard_id FROM dashboard_provisioning)), (SELECT count(*) FROM "user")')
        if (dashboards === '0' && Number(users) <= 1) return undefined
        return `a Grafana database with ${dashboards} dashboards made in Grafana and ${users} users`
      }
      const [[tables] = ['0']] = await sql("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
      return tables === '0' ? undefined : `${tables} tables`
    },

    async check(): Promise<void> {
      await runProgram('pg_isready', [`--dbname=${url}`], { env: env() }).catch(() => {
        throw fail('does not answer', 'a restore needs the database server up: deploy the admin stack with the ha profile first')
      })
    },

    async restore(part: Part, { dir }: PartSource, progress: Progress): Promise<void> {
      progress(`${name}: pg_restore into ${redacted(url)}`)
      await runProgram('pg_restore', ['--clean', '--if-exists', '--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', `--dbname=${url}`, join(dir, part.file)], { env: env() })
    },

    async ready(timeoutMs: number): Promise<void> {
      await waitUntil(`${name} to answer`, async () => (await sql('SELECT 1'))[0]?.[0] === '1', timeoutMs)
    },
  }
}

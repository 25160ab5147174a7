// A real PostgreSQL (Debian's postgresql package) in a temporary folder on a loopback port, for the backup tests.
// Root cannot run postgres: as root, the server runs as the postgres user the Debian package creates.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, tempDir, waitFor } from './servers.ts'

/** A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin (not on PATH). */
export function postgresBinary(program: string): string {
  const onPath = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim()
  if (onPath) return onPath
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const version of versions) if (existsSync(join(root, version, 'bin', program))) return join(root, version, 'bin', program)
  throw new Error(`${program} is not installed: apt-get install -y postgresql (or run .ci/run, which installs it)`)
}

export interface Postgres {
  /** postgres://grafana@127.0.0.1:PORT/grafana, without the password. */
  url: string
  passwordFile: string
  /** Runs SQL as the database owner; the rows as tab-separated text. */
  sql(text: string): string
  stop(): Promise<void>
}

export async function startPostgres(): Promise<Postgres> {
  const initdb = postgresBinary('initdb')
  const server = postgresBinary('postgres')
  const psql = postgresBinary('psql')
  const dir = tempDir('postgres')
  const root = process.getuid?.() === 0
  const asServerUser = (command: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args])
  if (root) {
    const user = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
    if (user.status !== 0) throw new Error('no postgres user to run the server as: apt-get install -y postgresql creates it')
  }
  const password = 'test-password'
  const passwordFile = join(dir.path, 'password')
  writeFileSync(passwordFile, password + '\n')
  const data = join(dir.path, 'data')
  if (root) {
    const [uid, gid] = spawnSync('sh', ['-c', 'id -u postgres; id -g postgres'], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number)
    chownSync(dir.path, uid!, gid!)
    chownSync(passwordFile, uid!, gid!)
  }
  const [initCommand, initArgs] = asServerUser(initdb, ['--pgdata', data, '--username', 'grafana', `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-sync'])
  const init = spawnSync(initCommand, initArgs, { encoding: 'utf8' })
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  const [command, args] = asServerUser(server, ['-D', data, '-p', String(port), '-k', dir.path, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'])
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (c) => (output += c))
  child.stderr!.on('data', (c) => (output += c))
  const url = `postgres://grafana@127.0.0.1:${port}/grafana`
  const env = { ...process.env, PGPASSWORD: password }
  const sql = (text: string, database = 'grafana') => {
    const run = spawnSync(psql, ['--no-psqlrc', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', `--dbname=postgres://grafana@127.0.0.1:${port}/${database}`, '-c', text], { encoding: 'utf8', env })
    if (run.status !== 0) throw new Error(`psql: ${run.stderr.trim()}`)
    return run.stdout.trim()
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        dir.remove()
        resolve()
      }
      if (child.exitCode !== null || child.signalCode !== null) return done()
      child.once('exit', done)
      // runuser does not pass signals on to the server: pg_ctl asks it for a fast shutdown.
      const [stopCommand, stopArgs] = asServerUser(postgresBinary('pg_ctl'), ['stop', '-D', data, '-m', 'fast', '--no-wait'])
      spawnSync(stopCommand, stopArgs)
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref()
    })
  try {
    await waitFor(`PostgreSQL to accept connections on 127.0.0.1:${port}`, () => {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${output.slice(-500)}`)
      return sql('SELECT 1', 'postgres') === '1'
    }, 30_000)
    sql('CREATE DATABASE grafana', 'postgres')
  } catch (error) {
    await stop()
    throw error
  }
  return { url, passwordFile, sql: (text) => sql(text), stop }
}

// Runs the programs a store is backed up with (sqlite3, pg_dump, zstd, docker): missing or failing, each says what to do.
import { spawn } from 'node:child_process'
import { ProgramError } from './errors.ts'

/** The Debian package that brings each program, for the "is not installed" line. */
const packages: Record<string, string> = {
  sqlite3: 'sqlite3',
  pg_dump: 'postgresql-client',
  pg_restore: 'postgresql-client',
  psql: 'postgresql-client',
  pg_isready: 'postgresql-client',
  zstd: 'zstd',
  docker: 'docker.io',
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  /** Text written to the program's standard input. */
  input?: string
}

/** Runs a program to completion; its stdout, or a ProgramError with the last line it printed on stderr. */
export function runProgram(program: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk) => (stdout += chunk))
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    child.on('error', (error: NodeJS.ErrnoException) => reject(notInstalled(program, error)))
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(stdout)
      const last = stderr.trim().split('\n').filter(Boolean).pop() ?? `exited with ${code ?? signal}`
      // Programs often start their own messages with their name ("pg_dump: error: ..."): said once is enough.
      reject(new ProgramError(program, last.trim().replace(new RegExp(`^${program}: (error: )?`), '').replace(/\s+/g, ' '), fixFor(program)))
    })
    if (child.stdin) {
      child.stdin.on('error', () => {}) // a program that exits without reading its input: its exit code says what happened
      child.stdin.end(options.input)
    }
  })
}

export function notInstalled(program: string, error: NodeJS.ErrnoException): Error {
  if (error.code === 'ENOENT') return new ProgramError(program, 'is not installed', `apt-get install -y ${packages[program] ?? program}`)
  return error
}

function fixFor(program: string): string {
  if (program.startsWith('pg_') || program === 'psql') return 'check the database URL, its password file, and that the server is up'
  if (program === 'docker') return 'run this on a Swarm manager, as a user who may use docker'
  if (program === 'sqlite3') return 'check that the file is a SQLite database this user may read and write beside, and retry when its writer is less busy'
  if (program === 'zstd') return 'the archive may be damaged; use another backup'
  return 'see its documentation'
}

// Runs the programs a store is backed up with (sqlite3, pg_dump, zstd, docker): missing or failing, each says what to do.
import { ProgramError, run, lastLine, type RunOptions } from '../../stacks/programs.ts'

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

/** Runs a program to completion; its stdout, or a ProgramError with the last line it printed on stderr. */
export async function runProgram(program: string, args: string[], options: Pick<RunOptions, 'env' | 'input'> = {}): Promise<string> {
  const ran = await run(program, args, options)
  if (ran.missing) throw notInstalled(program)
  if (ran.code === 0) return ran.stdout
  const last = lastLine(ran.stderr) || `exited with ${ran.code}`
  // Programs often start their own messages with their name ("pg_dump: error: ..."): said once is enough.
  throw new ProgramError(program, last.replace(new RegExp(`^${program}: (error: )?`), '').replace(/\s+/g, ' '), fixFor(program))
}

export function notInstalled(program: string): ProgramError {
  return new ProgramError(program, 'is not installed', `apt-get install -y ${packages[program] ?? program}`)
}

function fixFor(program: string): string {
  if (program.startsWith('pg_') || program === 'psql') return 'check the database URL, its password file, and that the server is up'
  if (program === 'docker') return 'run this on a Swarm manager, as a user who may use docker'
  if (program === 'sqlite3') return 'check that the file is a SQLite database this user may read and write beside, and retry when its writer is less busy'
  if (program === 'zstd') return 'the archive may be damaged; use another backup'
  return 'see its documentation'
}

// Where generated logins are told: a file only this user can read, since a Swarm secret cannot be read back and a terminal is no place for a password.
import { appendFileSync, chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** ACTIVITY_HOME (default ~/.activity)/credentials. */
export function credentialsFile(env: Record<string, string | undefined>): string {
  return join(env.ACTIVITY_HOME || join(homedir(), '.activity'), 'credentials')
}

export function recordCredential(file: string, secret: string, note: string): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 })
  appendFileSync(file, `# ${new Date().toISOString()} secret ${secret}\n${note}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
}

export function forgetCredentials(file: string): boolean {
  if (!existsSync(file)) return false
  rmSync(file)
  return true
}

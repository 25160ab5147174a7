// Runs the bundled `activity` command as a user does (npm test builds dist/ first), capturing what it prints.
import { spawn } from 'node:child_process'

export const cliPath = new URL('../../dist/scripts/activity.js', import.meta.url).pathname

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/** `env` replaces the environment (pass process.env to keep it); `cwd` defaults to this process's. */
export function runActivity(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: options.env ?? process.env, cwd: options.cwd })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

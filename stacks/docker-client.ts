// The docker CLI the deploy path and `activity validate` use: one that has `docker stack config`.
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { lastLine, runSync, type Ran } from './programs.ts'

export type DockerClient = { path: string } | { problem: string }

function executablesOnPath(program: string, env: NodeJS.ProcessEnv): string[] {
  const found: string[] = []
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, program)
    try {
      accessSync(candidate, constants.X_OK)
      if (!found.includes(candidate)) found.push(candidate)
    } catch {
      // not here
    }
  }
  return found
}

/** The shell could not start the program (not there, not executable): it has no version to ask for. */
function didNotStart(path: string, ran: Ran): boolean {
  const said = lastLine(ran.stderr)
  return ran.missing || ((ran.code === 127 || ran.code === 126) && (said.endsWith(`${path}: No such file or directory`) || said.endsWith(`${path}: Permission denied`)))
}

/**
 * A docker CLI that has `docker stack config` (Docker CLI 23 and newer; Debian bookworm's docker.io 20.10 client does
 * not). DOCKER=/path picks one; otherwise the first on PATH that has it.
 */
export function dockerWithStackConfig(env: NodeJS.ProcessEnv = process.env): DockerClient {
  const candidates = env.DOCKER ? [env.DOCKER] : executablesOnPath('docker', env)
  if (!candidates.length) return { problem: 'no docker CLI on PATH: install Docker CLI 23 or newer (docker-ce-cli), or set DOCKER=/path/to/docker' }
  const tried: string[] = []
  for (const path of candidates) {
    const help = runSync(path, ['stack', 'config', '--help'], { timeoutMs: 20_000 })
    if (help.code === 0 && help.stdout.includes('--compose-file')) return { path }
    const version = didNotStart(path, help) ? '' : runSync(path, ['--version'], { timeoutMs: 20_000 }).stdout.trim()
    tried.push(`${path}${version ? ` (${version})` : ''}`)
  }
  return {
    problem: `no docker CLI here has \`docker stack config\` (tried ${tried.join(', ')}; Debian's docker.io 20.10 client lacks it): install Docker CLI 23 or newer (docker-ce-cli), or set DOCKER=/path/to/docker`,
  }
}

// The Docker CLI as typed calls: every script and the e2e test talk to the engine through these, never through ad-hoc strings.
import { spawn } from 'node:child_process'
import { $ } from 'zx'

/** A docker command that failed: the command, its exit code and the last lines it printed. */
export class DockerError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`docker ${command} failed (exit ${exitCode}): ${output.trim().split('\n').slice(-3).join(' | ')}`)
    this.name = 'DockerError'
  }
}

/** Runs `docker ARGS`, quietly; returns stdout, throws DockerError with the output on failure. */
export async function docker(args: string[], options: { input?: string; env?: Record<string, string | undefined> } = {}): Promise<string> {
  const result = await $({ quiet: true, nothrow: true, input: options.input, env: { ...process.env, ...options.env } })`docker ${args}`
  if (result.exitCode !== 0) throw new DockerError(args.slice(0, 3).join(' '), result.exitCode, result.stderr || result.stdout)
  return result.stdout
}

/** `docker ARGS` that may fail: undefined instead of an error (for "does it exist" questions). */
export async function dockerMaybe(args: string[]): Promise<string | undefined> {
  const result = await $({ quiet: true, nothrow: true })`docker ${args}`
  return result.exitCode === 0 ? result.stdout : undefined
}

/** One JSON object per line, as `--format '{{json .}}'` prints them. */
export function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T)
}

/**
 * Runs a long docker command (build) and hands each output line to `onLine` as it comes, so the caller can show progress.
 * Throws DockerError with the last lines when it fails.
 */
export function dockerStreaming(args: string[], onLine: (line: string) => void, env: Record<string, string | undefined> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let tail = ''
    let partial = ''
    const take = (chunk: Buffer) => {
      const text = partial + chunk.toString()
      const lines = text.split(/\r?\n/)
      partial = lines.pop() ?? ''
      for (const line of lines) {
        tail = (tail + line + '\n').slice(-4000)
        onLine(line)
      }
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    child.on('error', (error) => reject(new DockerError(args.slice(0, 2).join(' '), null, error.message)))
    child.on('close', (code) => {
      if (partial) onLine(partial)
      if (code === 0) resolve()
      else reject(new DockerError(args.slice(0, 2).join(' '), code, tail + partial))
    })
  })
}

export interface EngineInfo {
  serverVersion: string
  apiVersion: string
  memoryBytes: number
  swarmState: string
  swarmManager: boolean
  nodeAddress: string
}

/** The engine's version and swarm state, or undefined when no engine answers. */
export async function engineInfo(): Promise<EngineInfo | undefined> {
  const [infoText, apiVersion] = await Promise.all([
    dockerMaybe(['info', '--format', '{{json .}}']),
    dockerMaybe(['version', '--format', '{{.Server.APIVersion}}']),
  ])
  if (!infoText) return undefined
  const info = JSON.parse(infoText) as {
    ServerVersion?: string
    MemTotal?: number
    Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeAddr?: string }
  }
  if (!info.ServerVersion) return undefined
  return {
    serverVersion: info.ServerVersion,
    apiVersion: apiVersion?.trim() ?? '',
    memoryBytes: info.MemTotal ?? 0,
    swarmState: info.Swarm?.LocalNodeState ?? 'inactive',
    swarmManager: info.Swarm?.ControlAvailable ?? false,
    nodeAddress: info.Swarm?.NodeAddr ?? '',
  }
}

/** The value of one label of a local image, undefined when the image is absent. */
export async function imageLabel(image: string, label: string): Promise<string | undefined> {
  const text = await dockerMaybe(['image', 'inspect', '--format', `{{json .Config.Labels}}`, image])
  if (text === undefined) return undefined
  const labels = JSON.parse(text) as Record<string, string> | null
  return labels?.[label] ?? ''
}

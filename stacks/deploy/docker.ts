// The Docker CLI as typed calls: every script and the e2e test talk to the engine through these, never through ad-hoc strings.
import { ActivityError } from '../../collectors/runtime/errors.ts'
import { run, runLines } from '../programs.ts'

/**
 * A docker command that failed: the command, its exit code and the last lines it printed. Its message is one sentence
 * that starts with the command, so it has no `where: ` of its own.
 */
export class DockerError extends ActivityError {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super('', `docker ${command} failed (exit ${exitCode}): ${output.trim().split('\n').slice(-3).join(' | ')}`)
  }
}

/** Runs `docker ARGS`, quietly; returns stdout, throws DockerError with the output on failure. */
export async function docker(args: string[], options: { input?: string; env?: Record<string, string | undefined> } = {}): Promise<string> {
  const result = await run('docker', args, { input: options.input, env: { ...process.env, ...options.env } })
  if (result.code !== 0) throw new DockerError(args.slice(0, 3).join(' '), result.code, result.stderr || result.stdout)
  return result.stdout
}

/** `docker ARGS` that may fail: undefined instead of an error (for "does it exist" questions). */
export async function dockerMaybe(args: string[]): Promise<string | undefined> {
  const result = await run('docker', args)
  return result.code === 0 ? result.stdout : undefined
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
export async function dockerStreaming(args: string[], onLine: (line: string) => void, env: Record<string, string | undefined> = {}): Promise<void> {
  const result = await runLines('docker', args, onLine, { env: { ...process.env, ...env } })
  // Said as before the runner: docker that cannot start is Node's spawn error, with no exit code.
  if (result.missing) throw new DockerError(args.slice(0, 2).join(' '), null, 'spawn docker ENOENT')
  if (result.code !== 0) throw new DockerError(args.slice(0, 2).join(' '), result.code, result.tail)
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

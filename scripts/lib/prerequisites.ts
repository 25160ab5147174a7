// What `up` needs from the machine, checked before it changes anything; each failure says exactly what to do.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { docker, engineInfo, jsonLines, type EngineInfo } from '../../stacks/deploy/docker.ts'
import { run } from '../../stacks/programs.ts'
import { StepError } from '../../collectors/runtime/errors.ts'

const GiB = 1024 ** 3

function versionAtLeast(version: string, major: number, minor = 0): boolean {
  const [a = 0, b = 0] = version.split(/[.+-]/).map(Number)
  return a > major || (a === major && b >= minor)
}

/** The engine answers, is recent enough for replicated jobs, and the CLI can render stacks. */
export async function checkEngine(): Promise<{ info: EngineInfo; warnings: string[] }> {
  const [cli, info, stackConfig] = await Promise.all([
    run('docker', ['version', '--format', '{{.Client.Version}}']),
    engineInfo(),
    run('docker', ['stack', 'config', '--help']),
  ])
  if (cli.code === 127 || /not found/.test(cli.stderr)) {
    throw new StepError('prerequisites', 'the docker command is not installed', 'install Docker Engine 24+ (https://docs.docker.com/engine/install/)')
  }
  if (!info) {
    const reason = (await run('docker', ['info'])).stderr
    if (/permission denied/i.test(reason)) {
      throw new StepError('prerequisites', 'this user may not use the Docker Engine (permission denied on its socket)', 'add yourself to the docker group: sudo usermod -aG docker $USER, then log in again')
    }
    throw new StepError('prerequisites', 'no Docker Engine answers', 'start it (sudo systemctl start docker, or start Docker Desktop), or point DOCKER_HOST at one')
  }
  const warnings: string[] = []
  if (!versionAtLeast(info.apiVersion, 1, 41)) {
    throw new StepError('prerequisites', `Docker Engine ${info.serverVersion} (API ${info.apiVersion}) has no replicated jobs, which run the collectors`, 'upgrade to Docker Engine 24+')
  }
  if (!versionAtLeast(info.serverVersion, 24)) warnings.push(`Docker Engine ${info.serverVersion} is older than 24, the supported version; it has what up uses (API ${info.apiVersion})`)
  if (stackConfig.code !== 0) {
    throw new StepError('prerequisites', `the docker CLI ${cli.stdout.trim()} has no 'docker stack config', which renders the stacks`, 'install the Docker CLI 24+ (docker-ce-cli)')
  }
  return { info, warnings }
}

/** Enough memory for what will run: a hard floor, and a warning when Elasticsearch will be short. */
export function checkMemory(info: EngineInfo, withElasticsearch: boolean): string[] {
  if (info.memoryBytes && info.memoryBytes < 2 * GiB) {
    throw new StepError('prerequisites', `the engine has ${(info.memoryBytes / GiB).toFixed(1)} GiB of memory; the platform needs 2 GiB at least`, 'give Docker more memory (Docker Desktop: Settings > Resources) or use a bigger machine')
  }
  if (withElasticsearch && info.memoryBytes && info.memoryBytes < 6 * GiB) {
    return [`${(info.memoryBytes / GiB).toFixed(1)} GiB of memory: Elasticsearch wants 6 GiB for the whole platform; expect it to be slow or to be killed`]
  }
  return []
}

/** Elasticsearch refuses to start with the kernel's default map count. */
export function checkMapCount(withElasticsearch: boolean, file = '/proc/sys/vm/max_map_count'): void {
  if (!withElasticsearch) return
  let count: number
  try {
    count = Number(readFileSync(file, 'utf8').trim())
  } catch {
    return // not Linux, or Docker Desktop's VM: its own setting
  }
  if (count < 262144) {
    throw new StepError('prerequisites', `vm.max_map_count is ${count}; Elasticsearch needs 262144`, 'sudo sysctl -w vm.max_map_count=262144 (and add it to /etc/sysctl.d/ to keep it)')
  }
}

function canListen(port: number, host: string): Promise<'free' | 'busy' | 'unknown'> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE' ? 'busy' : 'unknown'))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve('free')))
  })
}

/** Free for the engine's 0.0.0.0 binding: Node's listen reuses addresses, so a program on 127.0.0.1 alone is only seen by trying that too. */
async function portFree(port: number): Promise<'free' | 'busy' | 'unknown'> {
  const results = [await canListen(port, '0.0.0.0'), await canListen(port, '127.0.0.1')]
  return results.includes('busy') ? 'busy' : results.includes('unknown') ? 'unknown' : 'free'
}

/** Ports that running containers of the platform's stacks publish (a redeploy keeps them), from `docker ps`. */
export async function portsPublishedByPlatform(stacks: readonly string[]): Promise<Set<number>> {
  const containers = jsonLines<{ Ports: string; Labels: string }>(await docker(['ps', '--format', '{{json .}}']))
  const ports = new Set<number>()
  for (const container of containers) {
    const stack = /(?:^|,)com\.docker\.stack\.namespace=([^,]+)/.exec(container.Labels)?.[1]
    if (!stack || !stacks.includes(stack)) continue
    for (const match of container.Ports.matchAll(/:(\d+)->/g)) ports.add(Number(match[1]))
  }
  return ports
}

/** Every port the stacks publish is free, or already published by the platform itself (a redeploy). */
export async function checkPorts(ports: number[], stacks: readonly string[]): Promise<void> {
  const ours = await portsPublishedByPlatform(stacks)
  for (const port of [...new Set(ports)].sort((a, b) => a - b)) {
    if (ours.has(port)) continue
    if ((await portFree(port)) === 'busy') {
      throw new StepError('prerequisites', `port ${port} is in use by another program`, `stop it (sudo ss -ltnp 'sport = :${port}' shows which) and run up again`)
    }
  }
}

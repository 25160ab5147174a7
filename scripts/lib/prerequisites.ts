// What `up` needs from the machine, checked before it changes anything; each failure says exactly what to do.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { ClusterConfig } from '../../collectors/runtime/activity-yml-cluster.ts'
import { docker, engineInfo, jsonLines, type EngineInfo } from '../../stacks/deploy/docker.ts'
import { engineVerdict, oldestSupportedMajor, readEngineFacts, refusalLine, type EngineFacts } from '../../stacks/deploy/engine.ts'
import { mapCountRefusal, mayPlace } from '../../stacks/deploy/kernel.ts'
import { readNodeEngine } from '../cluster/kernel.ts'
import { sshShell } from '../cluster/shell.ts'
import { nodeLabels } from '../cluster/swarm.ts'
import { run } from '../../stacks/programs.ts'
import { StepError } from '../../collectors/runtime/errors.ts'

const GiB = 1024 ** 3

/** The engine answers and this user may use it; its facts, for the verdict once the stacks are rendered (checkImages). */
export async function checkEngine(): Promise<{ info: EngineInfo; facts: EngineFacts }> {
  const [read, info, stackConfig] = await Promise.all([readEngineFacts(), engineInfo(), run('docker', ['stack', 'config', '--help'])])
  if ('missing' in read) {
    throw new StepError('prerequisites', 'the docker command is not installed', `install Docker Engine ${oldestSupportedMajor}+ (https://docs.docker.com/engine/install/)`)
  }
  if ('problem' in read || !info) {
    const reason = 'problem' in read ? read.problem : ''
    if (/permission denied/i.test(reason)) {
      throw new StepError('prerequisites', 'this user may not use the Docker Engine (permission denied on its socket)', 'add yourself to the docker group: sudo usermod -aG docker $USER, then log in again')
    }
    throw new StepError('prerequisites', `no Docker Engine answers${reason ? ` (${reason})` : ''}`, 'start it (sudo systemctl start docker, or start Docker Desktop), or point DOCKER_HOST at one')
  }
  // The CLI's version says it too (engineVerdict); this asks the CLI itself. A CLI without the command prints
  // `docker stack`'s help for `docker stack config --help` and exits 0 (Debian's 20.10): the command's own flag tells.
  if (stackConfig.code !== 0 || !stackConfig.stdout.includes('--skip-interpolation')) {
    throw new StepError('prerequisites', `the docker CLI ${read.facts.client} has no 'docker stack config', which renders the stacks`, `install the Docker CLI ${oldestSupportedMajor} or later (docker-ce-cli)`)
  }
  return { info, facts: read.facts }
}

/**
 * The engine against the images about to run (README: "What up checks"): a known-bad combination is refused with the
 * fix, an untested or old engine is a warning line (returned).
 */
export function checkImages(facts: EngineFacts, images: readonly string[]): string[] {
  const { refusals, warnings } = engineVerdict(facts, images)
  if (refusals.length) {
    const { problem, fix } = refusalLine(refusals)
    throw new StepError('prerequisites', problem, fix)
  }
  return warnings
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

/** This machine's vm.max_map_count; undefined where there is none (not Linux, or Docker Desktop's VM: its own setting). */
function localMapCount(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim())
  } catch {
    return undefined
  }
}

/**
 * The nodes beyond the engine up talks to. Local provider: this machine's vm.max_map_count when Elasticsearch will run
 * (`constraints`: its placement; undefined: not deployed). A cluster: every node over ssh, each engine against the images
 * (cAdvisor runs on every node) and, on the nodes Elasticsearch may be placed on, the map count. The first known-bad
 * node is refused with its fix; the warnings are returned, each naming its node. A node that does not answer ssh is
 * not judged here (activity cluster status names it; without REGISTRY up stops at copying the images to it).
 */
export async function checkNodes(constraints: string[] | undefined, cluster: ClusterConfig, images: readonly string[], file = '/proc/sys/vm/max_map_count'): Promise<string[]> {
  if (cluster.provider === 'local') {
    const count = constraints ? localMapCount(file) : undefined
    const refusal = count === undefined ? undefined : mapCountRefusal(count, 'this machine')
    if (refusal) throw new StepError('prerequisites', refusal.problem, refusal.fix)
    return []
  }
  const engines = await Promise.all(cluster.nodes.map(async (node) => ({ node, engine: await readNodeEngine(sshShell(cluster, node)) })))
  const warnings: string[] = []
  for (const { node, engine } of engines) {
    if (engine.facts) {
      const verdict = engineVerdict(engine.facts, images)
      if (verdict.refusals.length) {
        const { problem, fix } = refusalLine(verdict.refusals)
        throw new StepError('prerequisites', `${node.name}: ${problem}`, fix)
      }
      warnings.push(...verdict.warnings.map((warning) => `${node.name}: ${warning}`))
    }
    const mayRunElasticsearch = constraints && mayPlace(constraints, { role: node.role, labels: nodeLabels(node) })
    const refusal = mayRunElasticsearch && engine.mapCount !== undefined ? mapCountRefusal(engine.mapCount, node.name) : undefined
    if (refusal) throw new StepError('prerequisites', refusal.problem, refusal.fix)
  }
  return warnings
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

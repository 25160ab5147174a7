// What `activity cluster init` checks on each node before the swarm is built: its engine (the same verdict as up's) and,
// on the nodes that may run Elasticsearch, vm.max_map_count, raised for good when it is too low.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import type { ClusterNode } from '../../collectors/runtime/activity-yml-cluster.ts'
import type { ComposeFile } from '../../stacks/deploy/deploy.ts'
import { engineFacts, engineVerdict, refusalLine, type EngineFacts } from '../../stacks/deploy/engine.ts'
import { elasticsearchConstraints, mayPlace, minMapCount, sysctlFile } from '../../stacks/deploy/kernel.ts'
import { roleLabel, storageLabel } from '../../stacks/deploy/swarm.ts'
import { lastLine, quote, UnreachableError, type NodeShell } from './shell.ts'
import type { ClusterConfig } from '../../collectors/runtime/activity-yml-cluster.ts'
import { StepError } from '../../collectors/runtime/errors.ts'
import type { Output } from '../lib/output.ts'

const marker = '--activity--'

/** Where the kernel keeps the setting, and where cluster init keeps it across reboots; other paths are for tests. */
export interface KernelFiles {
  proc: string
  file: string
}
const kernelFiles: KernelFiles = { proc: '/proc/sys/vm/max_map_count', file: sysctlFile }

/** One ssh call: the engine's version and info as JSON, and the map count, separated by marker lines. */
export function engineScript(proc = kernelFiles.proc): string {
  return [`docker version --format '{{json .}}'`, `echo ${marker}`, `docker info --format '{{json .}}'`, `echo ${marker}`, `cat ${quote(proc)}`].join('; ')
}

export interface NodeEngine {
  facts?: EngineFacts
  /** vm.max_map_count; undefined where the kernel has none (not Linux). */
  mapCount?: number
  /** Why the engine's facts could not be read. */
  problem?: string
}

/** Reads what engineScript printed. */
export function parseNodeEngine(stdout: string): NodeEngine {
  const [version = '', info = '', count = ''] = stdout.split(`${marker}\n`).map((part) => part.trim())
  const mapCount = /^\d+$/.test(count) ? Number(count) : undefined
  try {
    const facts = engineFacts(version || '{}', info || '{}')
    return facts ? { facts, mapCount } : { mapCount, problem: 'the engine did not say its version' }
  } catch {
    return { mapCount, problem: `docker answered something else than JSON: ${version.slice(0, 120)}` }
  }
}

export async function readNodeEngine(shell: NodeShell, proc = kernelFiles.proc): Promise<NodeEngine & { unreachable?: string }> {
  const result = await shell.run(engineScript(proc))
  const unreachable = shell.unreachable(result)
  if (unreachable) return { unreachable }
  return parseNodeEngine(result.stdout)
}

/**
 * Raises vm.max_map_count to what Elasticsearch needs, now and at every boot (a file in /etc/sysctl.d), only when it is
 * lower: a higher value (some distributions set 1048576 or more) is left alone. Prints `already N` or `set (was N)`.
 * It writes the one setting (what `sysctl -w` does), never `sysctl --system`, which would re-apply every other file.
 */
export function mapCountScript({ proc, file }: KernelFiles = kernelFiles): string {
  return [
    '# vm.max_map_count for Elasticsearch',
    'set -e',
    `now=$(cat ${quote(proc)})`,
    `if [ "$now" -ge ${minMapCount} ]; then echo "already $now"; exit 0; fi`,
    'as_root=; [ "$(id -u)" -eq 0 ] || as_root="sudo -n"',
    `printf '%s\\n' ${quote('# activity cluster init: Elasticsearch needs at least this many memory map areas')} ${quote(`vm.max_map_count = ${minMapCount}`)} | $as_root tee ${quote(file)} >/dev/null`,
    `echo ${minMapCount} | $as_root tee ${quote(proc)} >/dev/null`,
    'echo "set (was $now)"',
  ].join('\n')
}

/**
 * The constraints Elasticsearch is placed with, from stacks/logs.yml under `root` (the repository `activity` runs in);
 * when there is none, the storage nodes and the managers, the two placements the stack has used.
 */
export function elasticsearchPlacement(root: string): (node: ClusterNode) => boolean {
  const file = join(root, 'stacks', 'logs.yml')
  // The file as written: its constraint may be a variable with a default, "${ELASTICSEARCH_PLACEMENT:-node.labels...}".
  const interpolate = (text: string) => text.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, name: string, fallback = '') => process.env[name] || fallback)
  const constraints = existsSync(file) ? elasticsearchConstraints(parse(readFileSync(file, 'utf8')) as ComposeFile)?.map(interpolate) : undefined
  if (!constraints) return (node) => node.storage || node.role === 'manager'
  return (node) => mayPlace(constraints, { role: node.role, labels: { [roleLabel]: node.role, [storageLabel]: String(node.storage) } })
}

/** The images the repository's stacks pin (admin: Traefik, monitoring: cAdvisor), for the same rules as up's; none outside a repository. */
export function pinnedImages(root: string): string[] {
  const images: string[] = []
  for (const stack of ['admin', 'monitoring']) {
    const file = join(root, 'stacks', `${stack}.yml`)
    if (!existsSync(file)) continue
    const compose = parse(readFileSync(file, 'utf8')) as ComposeFile
    for (const service of Object.values(compose.services ?? {})) if (service.image) images.push(service.image)
  }
  return images
}

/**
 * Step 2 of init and join: each node's engine gets up's verdict (refused: the node and the fix; warnings shown), and
 * each node that may run Elasticsearch gets vm.max_map_count raised for good. The local provider's node is this
 * machine: it is only told (up refuses with the fix), never changed behind the user's back. Returns whether a node changed.
 */
export async function checkNodes(config: ClusterConfig, out: Output, shells: readonly NodeShell[], root = process.cwd(), files = kernelFiles): Promise<boolean> {
  const images = pinnedImages(root)
  const mayRunElasticsearch = elasticsearchPlacement(root)
  let changed = false
  const summary: string[] = []
  const details: string[] = []
  for (const shell of shells) {
    const { node } = shell
    const engine = await readNodeEngine(shell, files.proc)
    if (engine.unreachable) throw new UnreachableError(config, node, engine.unreachable)
    if (!engine.facts) throw new StepError(`${node.name}: engine`, `Docker does not answer there (${engine.problem})`, `start Docker on ${node.name}, then run this again`)
    const { refusals, warnings } = engineVerdict(engine.facts, images)
    if (refusals.length) {
      const { problem, fix } = refusalLine(refusals)
      throw new StepError(`${node.name}: engine`, problem, fix)
    }
    let kernel = ''
    if (mayRunElasticsearch(node) && engine.mapCount !== undefined) {
      if (config.provider === 'local') {
        if (engine.mapCount < minMapCount) {
          warnings.push(`vm.max_map_count is ${engine.mapCount} on this machine and Elasticsearch needs ${minMapCount}: up refuses to deploy it until you run sudo sysctl -w vm.max_map_count=${minMapCount} and keep it with echo vm.max_map_count=${minMapCount} | sudo tee ${sysctlFile}`)
        }
        kernel = `, vm.max_map_count ${engine.mapCount}`
      } else {
        const result = await shell.run(mapCountScript(files))
        const unreachable = shell.unreachable(result)
        if (unreachable) throw new UnreachableError(config, node, unreachable)
        if (result.code !== 0) {
          throw new StepError(`${node.name}: vm.max_map_count`, lastLine(result.stderr || result.stdout) || `exited ${result.code}`, `as root on ${node.name}: sysctl -w vm.max_map_count=${minMapCount} and echo vm.max_map_count=${minMapCount} > ${sysctlFile} (or let ${config.ssh.user} use sudo without a password), then run this again`)
        }
        const said = result.stdout.trim()
        if (said.startsWith('set')) {
          changed = true
          summary.push(`vm.max_map_count ${minMapCount} on ${node.name}`)
        }
        kernel = `, vm.max_map_count ${said}`
      }
    }
    details.push(`${node.name.padEnd(12)} Docker ${engine.facts.engine} (API ${engine.facts.api}, ${engine.facts.imageStore} image store)${kernel}`)
    details.push(...warnings.map((warning) => `${node.name.padEnd(12)} warning: ${warning}`))
  }
  out.step('engine', `${shells.length} node${shells.length === 1 ? '' : 's'} checked${summary.length ? `; set ${summary.join(', ')}` : ''}`)
  for (const line of details) out.detail(line)
  return changed
}

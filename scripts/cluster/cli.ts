// `activity cluster <init|start|stop|clean|remount|status|join>`: the machines the swarm runs on, as activity.yml's cluster: section describes them.
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { providers, type ClusterConfig, type ClusterNode, type Provider } from '../../collectors/runtime/activity-yml-cluster.ts'
import { UsageError } from '../../collectors/runtime/errors.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { createOutput, type Output } from '../lib/output.ts'
import { localShell, sshShell } from './shell.ts'
import { commands, swarmCommand, type Command } from './commands.ts'
import type { ClusterContext } from './swarm.ts'


export const clusterUsage = `usage: activity cluster <${commands.join('|')}> [--provider ${providers.join('|')}] [--config FILE] [NODE...]
       activity cluster images [--config FILE] IMAGE...   (copies images to every node that lacks them)`

/** The local engine as the one node of a local cluster. */
function localNode(): ClusterNode {
  return { name: hostname(), role: 'manager', host: undefined, address: '127.0.0.1', storage: true, shared: false, line: undefined, hostLine: undefined, field: 'cluster' }
}

export function contextFor(config: ClusterConfig, out: Output): ClusterContext {
  if (config.provider === 'local') return { config, out, shells: [localShell(localNode())] }
  return { config, out, shells: config.nodes.map((node) => sshShell(config, node)) }
}

/** `collectorsDir`: collectors/ of the running build, for the sources: section that activity.yml also holds. */
export async function clusterCommand(args: string[], env: NodeJS.ProcessEnv, collectorsDir: URL, write?: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { provider: { type: 'string' }, config: { type: 'string' } },
  })
  const [command, ...names] = positionals as [string | undefined, ...string[]]
  if (!command || !([...commands, 'images'] as readonly string[]).includes(command)) throw new UsageError(`${command ? `unknown cluster command '${command}'` : 'which cluster command?'}; ${clusterUsage}`)
  const provider = values.provider
  if (provider !== undefined && !(providers as readonly string[]).includes(provider)) throw new UsageError(`--provider ${provider}: must be one of ${providers.join(', ')}`)

  const file = values.config ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
  const { loadConfig } = await import('../../collectors/runtime/activity-yml.ts')
  const config = loadConfig(file, await loadCollectors(collectorsDir), { provider: provider as Provider | undefined }).cluster
  for (const name of command === 'images' ? [] : names) {
    if (!config.nodes.some((n) => n.name === name)) throw new UsageError(`${name} is not a node of the cluster in ${file} (${config.nodes.map((n) => n.name).join(', ') || 'no nodes listed'})`)
  }
  if (command === 'join' && !names.length) throw new UsageError('join takes the nodes to add, as named in cluster.nodes: activity cluster join worker3')
  if (command === 'images') {
    // activity cluster images IMAGE...: what up does after building, for images of your own (names, not nodes).
    if (!names.length) throw new UsageError('images takes the images to copy to every node: activity cluster images IMAGE...')
    const out = createOutput(0, write)
    const copied = await (await import('./images.ts')).distributeImages(config, names, (line) => out.line(`  ${line}`))
    out.line(`images: ${copied.length ? `copied to ${copied.join(', ')}` : 'every node has them'}`)
    return 0
  }

  const started = Date.now()
  const out = createOutput(stepCount(config.provider, command as Command), write)
  const ctx = contextFor(config, out)
  const nodes = config.provider === 'local' ? 'this engine' : config.nodes.map((n) => `${n.name} (${n.role})`).join(', ')
  out.line(`activity cluster ${command} (${config.provider}: ${nodes})`)
  if (config.provider === 'virtualbox') return (await import('./virtualbox.ts')).virtualboxCommand(command as Command, ctx, names, env)
  return await swarmCommand(command as Command, ctx, names, started)
}

/** How many numbered steps a command prints, for its [n/total] progress. */
function stepCount(provider: Provider, command: Command): number {
  const swarmSteps = { init: 6, join: 6, clean: 1, remount: 1, status: 0, start: 0, stop: 0 }[command]
  if (provider !== 'virtualbox') return swarmSteps
  return { init: 11, join: 11, clean: 4, remount: 2, status: 1, start: 3, stop: 1 }[command]
}

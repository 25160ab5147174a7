#!/usr/bin/env -S npx tsx
// `npm run down`: removes every stack of the platform; the data volumes stay unless --volumes (which also drops the generated secrets).
import { parseArgs } from 'node:util'
import { deployOrder } from '../stacks/stacks.ts'
import { credentialsFile, forgetCredentials } from './lib/credentials.ts'
import { deployedStacks, removeStack, stackServices } from '../stacks/deploy/deploy.ts'
import { docker, dockerMaybe, jsonLines } from '../stacks/deploy/docker.ts'
import { StepError } from '../collectors/runtime/errors.ts'
import { createOutput, runScript, seconds, type Output } from './lib/output.ts'
import { platformLabel } from '../stacks/deploy/swarm.ts'

export interface DownOptions {
  volumes: boolean
  timeoutSeconds: number
  env: Record<string, string | undefined>
}

export interface DownResult {
  removedStacks: string[]
  keptVolumes: string[]
  removedVolumes: string[]
}

async function poll(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new StepError('down', `${what} did not happen within ${timeoutMs / 1000} s`, 'see docker ps -a and docker network ls, then run down again')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

const stackLabel = 'com.docker.stack.namespace'

/**
 * Containers of the stacks still present. Swarm removes a service's containers with it, except those of finished
 * job tasks, which stay as exited containers: those are removed here, so their volumes and networks are free.
 */
async function containersLeft(stacks: string[]): Promise<number> {
  let left = 0
  for (const stack of stacks) {
    const containers = jsonLines<{ ID: string; State: string }>(await docker(['ps', '-a', '--filter', `label=${stackLabel}=${stack}`, '--format', '{{json .}}']))
    const finished = containers.filter((c) => c.State === 'exited' || c.State === 'created' || c.State === 'dead')
    if (finished.length) await dockerMaybe(['rm', '-f', ...finished.map((c) => c.ID)])
    left += containers.length - finished.length
  }
  return left
}

async function platformVolumes(): Promise<string[]> {
  const volumes = jsonLines<{ Name: string; Labels: string }>(await docker(['volume', 'ls', '--format', '{{json .}}']))
  return volumes
    // By label, or by name: a stack's volume another stack mounts first (the backup job mounts gitops_gitops-state
    // before the gitops stack is deployed) is created by the engine without the stack's label.
    .filter((v) => deployOrder.some((stack) => v.Labels.split(',').includes(`${stackLabel}=${stack}`) || v.Name.startsWith(`${stack}_`)))
    .map((v) => v.Name)
    .sort()
}

export async function down(options: DownOptions, out: Output): Promise<DownResult> {
  const started = Date.now()
  if ((await dockerMaybe(['info'])) === undefined) throw new StepError('engine', 'no Docker Engine answers', 'start it, or point DOCKER_HOST at the one that runs the platform')
  const swarm = (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim()
  const stacks = swarm === 'active' ? await deployedStacks() : []
  const order = [...deployOrder].reverse().filter((s) => stacks.includes(s))

  // 1. stacks, last deployed first, and until their tasks' containers are gone (volumes and networks are busy until then)
  for (const stack of order) {
    await removeStack(stack)
    out.detail(`${stack}: removing`)
  }
  await poll('removing the services', options.timeoutSeconds * 1000, async () => {
    for (const stack of order) if ((await stackServices(stack)).length) return false
    return (await containersLeft([...deployOrder])) === 0
  })
  out.step('stacks', order.length ? `removed ${order.join(', ')} (${seconds(started)})` : 'none deployed')

  // 2. the shared networks up created
  const networks = swarm === 'active' ? (await docker(['network', 'ls', '-q', '--filter', `label=${platformLabel}`])).split('\n').filter(Boolean) : []
  const names: string[] = []
  for (const id of networks) {
    const name = (await docker(['network', 'inspect', '--format', '{{.Name}}', id])).trim()
    // A network is released a moment after its last container.
    await poll(`removing network ${name}`, 30_000, async () => (await dockerMaybe(['network', 'rm', id])) !== undefined || (await dockerMaybe(['network', 'inspect', id])) === undefined)
    names.push(name)
  }
  out.step('networks', names.length ? `removed ${names.join(', ')}` : 'none to remove')

  // 3. data: kept unless --volumes
  const volumes = await platformVolumes()
  const result: DownResult = { removedStacks: order, keptVolumes: [], removedVolumes: [] }
  if (options.volumes) {
    for (const volume of volumes) await docker(['volume', 'rm', volume])
    const secrets = swarm === 'active' ? (await docker(['secret', 'ls', '-q', '--filter', `label=${platformLabel}`])).split('\n').filter(Boolean) : []
    for (const secret of secrets) await docker(['secret', 'rm', secret])
    const forgot = forgetCredentials(credentialsFile(options.env))
    result.removedVolumes = volumes
    out.step('data', `removed ${volumes.length} volume${volumes.length === 1 ? '' : 's'}${volumes.length ? ` (${volumes.join(', ')})` : ''}, ${secrets.length} secret${secrets.length === 1 ? '' : 's'}${forgot ? ' and the credentials file' : ''}`)
  } else {
    result.keptVolumes = volumes
    out.step('data', volumes.length ? `kept ${volumes.length} volume${volumes.length === 1 ? '' : 's'} (${volumes.join(', ')}) and the secrets; npm run down -- --volumes removes them` : 'no volumes')
  }
  out.line(swarm === 'active' ? `down: done (${seconds(started)}); the single-node swarm stays (docker swarm leave --force removes it)` : 'down: no swarm here, nothing to remove')
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runScript('down', async () => {
    const { values } = parseArgs({ args: process.argv.slice(2), options: { volumes: { type: 'boolean', default: false }, timeout: { type: 'string', default: '120' } } })
    process.stdout.write(`activity down: removing the platform's stacks${values.volumes ? ' and its data' : ' (data volumes stay)'}\n`)
    await down({ volumes: values.volumes!, timeoutSeconds: Number(values.timeout), env: process.env }, createOutput(3))
    return 0
  })
}

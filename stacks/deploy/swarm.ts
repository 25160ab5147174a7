// The swarm the platform runs on: a single-node swarm when none is active, the overlay networks and secrets the stacks share.
import { docker, jsonLines, type EngineInfo } from './docker.ts'
import { StepError } from '../../collectors/runtime/errors.ts'

/** Label on what the scripts create outside the stacks (networks, secrets), so `down` removes only those. */
export const platformLabel = 'activity.platform'

/** Node labels the stacks' placement constraints read; activity cluster sets them on every node, up on its single node. */
export const roleLabel = 'activity.role'
export const storageLabel = 'activity.storage'

/** Sets the labels of this engine's node that differ; returns those set (none when all were there). */
export async function ensureNodeLabels(labels: Record<string, string>): Promise<string[]> {
  const nodeId = (await docker(['info', '--format', '{{.Swarm.NodeID}}'])).trim()
  const current = (JSON.parse(await docker(['node', 'inspect', nodeId, '--format', '{{json .Spec.Labels}}'])) ?? {}) as Record<string, string>
  const missing = Object.entries(labels).filter(([key, value]) => current[key] !== value)
  if (missing.length) await docker(['node', 'update', ...missing.flatMap(([key, value]) => ['--label-add', `${key}=${value}`]), nodeId])
  return missing.map(([key, value]) => `${key}=${value}`)
}

/** Initialises a single-node swarm when this engine is in none; says what it found. */
export async function ensureSwarm(info: EngineInfo, advertiseAddress: string): Promise<string> {
  if (info.swarmState === 'active') {
    if (!info.swarmManager) throw new StepError('swarm', 'this engine is a swarm worker, not a manager', 'run up on a manager node (docker node ls there shows this one)')
    return `active (this node is a manager${info.nodeAddress ? `, ${info.nodeAddress}` : ''})`
  }
  if (info.swarmState === 'pending' || info.swarmState === 'error' || info.swarmState === 'locked') {
    throw new StepError('swarm', `the swarm of this engine is ${info.swarmState}`, info.swarmState === 'locked' ? 'unlock it: docker swarm unlock' : 'leave it (docker swarm leave --force) and run up again')
  }
  // A single-node swarm needs no address others can reach: loopback avoids choosing between several interfaces.
  await docker(['swarm', 'init', '--advertise-addr', advertiseAddress])
  return `initialised a single-node swarm (advertise address ${advertiseAddress}; leave it with docker swarm leave --force)`
}

export async function networkNames(): Promise<Set<string>> {
  return new Set(jsonLines<{ Name: string }>(await docker(['network', 'ls', '--format', '{{json .}}'])).map((n) => n.Name))
}

/** Creates the attachable overlay networks that the stacks share (declared external in them); returns those created. */
export async function ensureNetworks(names: string[], existing: Set<string>): Promise<string[]> {
  const created: string[] = []
  for (const name of names) {
    if (existing.has(name)) continue
    await docker(['network', 'create', '--driver', 'overlay', '--attachable', '--label', `${platformLabel}=true`, name])
    created.push(name)
  }
  return created
}

export async function existingSecrets(): Promise<Set<string>> {
  return new Set(jsonLines<{ Name: string }>(await docker(['secret', 'ls', '--format', '{{json .}}'])).map((s) => s.Name))
}

// The swarm steps of `activity cluster`, the same for every provider: each node reached through its shell (ssh, or here).
// init: first manager, then the others join with their tokens, labels, the shared folder; clean undoes it; status shows it.
import type { ClusterConfig, ClusterNode } from '../../collectors/runtime/activity-yml-cluster.ts'
import { StepError } from '../../collectors/runtime/errors.ts'
import type { Output } from '../lib/output.ts'
import { lastLine, quote, UnreachableError, type NodeShell } from './shell.ts'
import { checkNodes } from './kernel.ts'

import { roleLabel, storageLabel } from '../../stacks/deploy/swarm.ts'

export function nodeLabels(node: ClusterNode): Record<string, string> {
  return { [roleLabel]: node.role, [storageLabel]: String(node.storage) }
}

interface SwarmInfo {
  NodeID: string
  NodeAddr: string
  LocalNodeState: string
  ControlAvailable: boolean
  RemoteManagers: { NodeID: string; Addr: string }[] | null
  Cluster?: { ID: string }
}

/** What one node answered: its engine's version and swarm state, or why it did not. */
export interface Probe {
  node: ClusterNode
  /** ssh did not connect. */
  unreachable?: string
  /** ssh connected but Docker did not answer. */
  engineProblem?: string
  version?: string
  swarm?: SwarmInfo
}

/** A node as the swarm's managers see it (docker node inspect). */
export interface SwarmMember {
  ID: string
  Spec: { Labels: Record<string, string> | null; Role: string; Availability: string }
  Description: { Hostname: string }
  Status: { State: string; Addr: string }
  ManagerStatus?: { Leader?: boolean; Reachability: string }
}

export interface Task {
  ID: string
  Name: string
  Node: string
  CurrentState: string
}

export interface ClusterContext {
  config: ClusterConfig
  /** The nodes in config order, each with its shell. */
  shells: NodeShell[]
  out: Output
}

const probeScript = `docker info --format '{{.ServerVersion}} {{json .Swarm}}'`

export async function probe(shell: NodeShell): Promise<Probe> {
  const result = await shell.run(probeScript)
  const unreachable = shell.unreachable(result)
  if (unreachable) return { node: shell.node, unreachable }
  if (result.code !== 0) return { node: shell.node, engineProblem: lastLine(result.stderr || result.stdout) || `docker info exited ${result.code}` }
  const text = result.stdout.trim()
  const space = text.indexOf(' ')
  try {
    return { node: shell.node, version: text.slice(0, space), swarm: JSON.parse(text.slice(space + 1)) as SwarmInfo }
  } catch {
    return { node: shell.node, engineProblem: `docker info answered something else than expected: ${text.slice(0, 120)}` }
  }
}

/** A probe that must have reached a running engine, else the error says which node and what to do. */
function answered(ctx: ClusterContext, p: Probe, step: string): SwarmInfo {
  if (p.unreachable) throw new UnreachableError(ctx.config, p.node, p.unreachable)
  if (!p.swarm) {
    throw new StepError(
      `${p.node.name}: ${step}`,
      `Docker does not answer there (${p.engineProblem})`,
      ctx.config.provider === 'local' ? 'start the Docker Engine' : `install and start Docker on ${p.node.host} (e.g. apt-get install docker.io; systemctl start docker), then run this again`,
    )
  }
  return p.swarm
}

/** Runs a script that must succeed on a node; a failure names the node, the step and the fix. */
async function must(ctx: ClusterContext, shell: NodeShell, step: string, script: string, fix: string): Promise<string> {
  const result = await shell.run(script)
  const unreachable = shell.unreachable(result)
  if (unreachable) throw new UnreachableError(ctx.config, shell.node, unreachable)
  if (result.code !== 0) throw new StepError(`${shell.node.name}: ${step}`, lastLine(result.stderr || result.stdout) || `exited ${result.code}`, fix)
  return result.stdout
}

function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as T)
}

async function members(ctx: ClusterContext, manager: NodeShell): Promise<SwarmMember[]> {
  return jsonLines<SwarmMember>(await must(ctx, manager, 'nodes', `docker node inspect $(docker node ls -q) --format '{{json .}}'`, 'check the swarm on the first manager: docker node ls'))
}

async function runningTasks(ctx: ClusterContext, manager: NodeShell): Promise<Task[]> {
  // docker node ps with several nodes repeats tasks: one of each.
  const byId = (tasks: Task[]) => [...new Map(tasks.map((t) => [t.ID, t])).values()]
  return byId(jsonLines<Task>(await must(ctx, manager, 'tasks', `docker node ps $(docker node ls -q) --filter desired-state=running --format '{{json .}}'`, 'check the swarm on the first manager: docker node ps')))
}

/** The swarm node that is this config node: by its own node ID when it answered, else by address, else by hostname. */
function memberOf(node: ClusterNode, probeOf: Probe | undefined, all: SwarmMember[]): SwarmMember | undefined {
  const id = probeOf?.swarm?.NodeID
  return (id && all.find((m) => m.ID === id)) || all.find((m) => m.Status.Addr === node.address) || all.find((m) => m.Description.Hostname === node.name)
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export interface InitOptions {
  /** join: only these nodes are added; the swarm must exist. */
  only?: string[]
}

/** Builds (or completes) the swarm the config describes. Returns whether anything changed. */
export async function initSwarm(ctx: ClusterContext, options: InitOptions = {}): Promise<boolean> {
  const { config, shells, out } = ctx
  let changed = false
  const first = shells[0]!
  const targets = options.only ? shells.filter((s) => options.only!.includes(s.node.name)) : shells

  // 1. every node (or those joining, and the first manager) answers, with Docker
  const reached = options.only ? [first, ...targets.filter((s) => s !== first)] : shells
  const probes = await Promise.all(reached.map(probe))
  out.step('reach', `${plural(probes.length, 'node')} over ${config.provider === 'local' ? 'the local engine' : 'ssh'}`)
  for (const p of probes) {
    out.detail(`${p.node.name.padEnd(12)} ${(p.node.host ?? 'local').padEnd(15)} ${p.unreachable ? `UNREACHABLE: ${p.unreachable}` : p.swarm ? `Docker ${p.version}, swarm ${p.swarm.LocalNodeState}` : `Docker does not answer: ${p.engineProblem}`}`)
  }
  for (const p of probes) answered(ctx, p, 'reach')

  // 2. each engine gets up's verdict, and where Elasticsearch may run vm.max_map_count is raised for good (kernel.ts)
  if (await checkNodes(config, out, reached)) changed = true

  // 3. the first manager
  let managerSwarm = probes[0]!.swarm!
  if (managerSwarm.LocalNodeState === 'inactive') {
    if (options.only) throw new StepError(`${first.node.name}: swarm`, 'there is no swarm to join yet', 'run activity cluster init first')
    await must(ctx, first, 'swarm init', `docker swarm init --advertise-addr ${quote(first.node.address!)}`, `check that ${first.node.address} is an address of ${first.node.name} (cluster.nodes[0].address)`)
    managerSwarm = answered(ctx, await probe(first), 'swarm init')
    changed = true
    out.step('swarm', `${first.node.name}: initialised the swarm ${managerSwarm.Cluster?.ID ?? ''} (advertise address ${first.node.address})`)
  } else if (managerSwarm.LocalNodeState === 'active' && managerSwarm.ControlAvailable) {
    out.step('swarm', `${first.node.name}: already the manager of swarm ${managerSwarm.Cluster?.ID ?? ''} (${managerSwarm.NodeAddr})`)
  } else if (managerSwarm.LocalNodeState === 'active') {
    throw new StepError(`${first.node.name}: swarm`, 'is a worker of another swarm, so it cannot be the first manager', `leave that swarm there (docker swarm leave --force), or put the node that manages it first in cluster.nodes`)
  } else {
    throw new StepError(`${first.node.name}: swarm`, `its swarm is ${managerSwarm.LocalNodeState}`, managerSwarm.LocalNodeState === 'locked' ? 'unlock it: docker swarm unlock' : 'leave it there (docker swarm leave --force) and run init again')
  }
  const clusterId = managerSwarm.Cluster?.ID

  // 4. the others join with the token of their role (managers first, so the swarm keeps its quorum)
  const joining = targets.filter((s) => s !== first).sort((a, b) => Number(a.node.role === 'worker') - Number(b.node.role === 'worker'))
  let known = await members(ctx, first)
  const tokens = new Map<string, string>()
  const token = async (role: string) => {
    if (!tokens.has(role)) tokens.set(role, (await must(ctx, first, 'join token', `docker swarm join-token -q ${role}`, 'check the swarm on the first manager')).trim())
    return tokens.get(role)!
  }
  const joined: string[] = []
  for (const shell of joining) {
    const { node } = shell
    const swarm = answered(ctx, probes.find((p) => p.node === node)!, 'join')
    if (swarm.LocalNodeState === 'active') {
      const member = known.find((m) => m.ID === swarm.NodeID)
      if (!member || (swarm.ControlAvailable && clusterId && swarm.Cluster?.ID !== clusterId)) {
        throw new StepError(`${node.name}: join`, `is already in another swarm (${swarm.Cluster?.ID ?? `managed from ${swarm.RemoteManagers?.map((m) => m.Addr).join(', ')}`})`, `make it leave (on ${node.name}: docker swarm leave --force), then run this again`)
      }
      if (member.Spec.Role !== node.role) {
        await must(ctx, first, 'role', `docker node ${node.role === 'manager' ? 'promote' : 'demote'} ${member.ID}`, 'see docker node ls on the first manager')
        changed = true
        joined.push(`${node.name}: ${node.role === 'manager' ? 'promoted to manager' : 'demoted to worker'}`)
      } else joined.push(`${node.name}: already a ${node.role}`)
      continue
    }
    if (swarm.LocalNodeState !== 'inactive') {
      throw new StepError(`${node.name}: join`, `its swarm is ${swarm.LocalNodeState}`, `on ${node.name}: docker swarm leave --force, then run this again`)
    }
    await must(
      ctx,
      shell,
      'join',
      `docker swarm join --token ${quote(await token(node.role))} --advertise-addr ${quote(node.address!)} ${quote(`${first.node.address}:2377`)}`,
      `check that ${node.name} reaches ${first.node.address} on 2377/tcp, and 7946/tcp+udp, 4789/udp between all nodes`,
    )
    changed = true
    joined.push(`${node.name}: joined as ${node.role}`)
  }
  out.step('join', joined.length ? joined.join('; ') : 'no other node')

  // 5. labels: the role and the storage node, read by the stacks' placement constraints
  known = await members(ctx, first)
  const labelled: string[] = []
  for (const shell of targets) {
    const { node } = shell
    const p = shell === first ? await probe(first) : probes.find((x) => x.node === node)!
    const member = memberOf(node, p, known)
    if (!member) throw new StepError(`${node.name}: labels`, 'is not among the swarm nodes the manager lists', 'see docker node ls on the first manager; run init again')
    const want = nodeLabels(node)
    const have = member.Spec.Labels ?? {}
    const missing = Object.entries(want).filter(([k, v]) => have[k] !== v)
    if (missing.length) {
      await must(ctx, first, 'labels', `docker node update ${missing.map(([k, v]) => `--label-add ${quote(`${k}=${v}`)}`).join(' ')} ${member.ID}`, 'see docker node inspect on the first manager')
      changed = true
    }
    labelled.push(`${node.name}: ${Object.entries(want).map(([k, v]) => `${k}=${v}`).join(' ')}${missing.length ? '' : ' (unchanged)'}`)
  }
  out.step('labels', labelled.join('; '))

  // 6. the shared folder
  const sharing = targets.filter((s) => s.node.shared)
  if (!config.shared.source || !sharing.length) out.step('shared', `no node mounts a shared ${config.shared.path} (cluster.shared is not set)`)
  else {
    const mounted: string[] = []
    for (const shell of sharing) {
      const said = (await must(ctx, shell, `mount ${config.shared.path}`, mountScript(config.shared.source, config.shared.path), `check that ${shell.node.name} reaches the NFS export ${config.shared.source} (showmount -e on it)`)).trim()
      if (said.endsWith('mounted') && said !== 'present') changed = true
      mounted.push(`${shell.node.name}: ${said === 'present' ? 'already mounted' : 'mounted'}`)
    }
    out.step('shared', `${config.shared.source} at ${config.shared.path}: ${mounted.join('; ')}`)
  }
  return changed
}

/** Mounts the shared folder now and at boot (one fstab line); says `present` when it already was. */
export function mountScript(source: string, path: string): string {
  const line = `${source} ${path} nfs defaults,_netdev 0 0`
  return [
    'set -e',
    `command -v mount.nfs >/dev/null 2>&1 || [ -x /sbin/mount.nfs ] || { echo 'mount.nfs is missing: install nfs-common (Debian) or nfs-utils' >&2; exit 3; }`,
    `mkdir -p ${quote(path)}`,
    `grep -qs ${quote(`^${source} ${path} `)} /etc/fstab || echo ${quote(line)} >> /etc/fstab`,
    `if mountpoint -q ${quote(path)}; then echo present; else mount ${quote(path)}; echo mounted; fi`,
  ].join('\n')
}

export function unmountScript(source: string, path: string): string {
  return [
    `if mountpoint -q ${quote(path)}; then umount ${quote(path)} || umount -l ${quote(path)}; echo unmounted; fi`,
    `if grep -qs ${quote(`^${source} ${path} `)} /etc/fstab; then grep -v ${quote(`^${source} ${path} `)} /etc/fstab > /etc/fstab.activity; cat /etc/fstab.activity > /etc/fstab; rm -f /etc/fstab.activity; fi`,
  ].join('\n')
}

export function remountScript(path: string): string {
  return `umount ${quote(path)} 2>/dev/null || umount -l ${quote(path)} 2>/dev/null || true\nmount ${quote(path)} && echo remounted`
}

/** Re-mounts the shared folder on the nodes that use it (after the host's NFS server restarted, say). */
export async function remountShared(ctx: ClusterContext): Promise<void> {
  const { config, out } = ctx
  const sharing = ctx.shells.filter((s) => s.node.shared)
  if (!config.shared.source || !sharing.length) {
    out.step('remount', `no node mounts a shared ${config.shared.path} (cluster.shared is not set): nothing to do`)
    return
  }
  out.step('remount', `${config.shared.source} at ${config.shared.path} on ${sharing.map((s) => s.node.name).join(', ')}`)
  for (const shell of sharing) {
    await must(ctx, shell, `remount ${config.shared.path}`, remountScript(config.shared.path), `check that ${shell.node.name} reaches the NFS export ${config.shared.source}`)
    out.detail(`${shell.node.name}: remounted`)
  }
}

/** Every node leaves the swarm (workers first, the first manager last) and the shared folder is unmounted. */
export async function cleanSwarm(ctx: ClusterContext): Promise<boolean> {
  const { config, out } = ctx
  let changed = false
  const failed: string[] = []
  const order = [...ctx.shells].reverse().sort((a, b) => Number(a.node.role === 'manager') - Number(b.node.role === 'manager'))
  out.step('leave', `${plural(order.length, 'node')}, workers first`)
  for (const shell of order) {
    const { node } = shell
    const p = await probe(shell)
    if (p.unreachable || !p.swarm) {
      failed.push(node.name)
      out.detail(`${node.name}: FAILED, ${p.unreachable ? `unreachable (${p.unreachable})` : `Docker does not answer (${p.engineProblem})`}`)
      continue
    }
    const done: string[] = []
    if (node.shared && config.shared.source) {
      const said = (await must(ctx, shell, `unmount ${config.shared.path}`, unmountScript(config.shared.source, config.shared.path), `unmount it by hand on ${node.name}`)).trim()
      if (said) {
        changed = true
        done.push(`${config.shared.path} unmounted`)
      }
    }
    if (p.swarm.LocalNodeState !== 'inactive') {
      await must(ctx, shell, 'leave', 'docker swarm leave --force', `on ${node.name}: docker swarm leave --force`)
      changed = true
      done.push('left the swarm')
    }
    out.detail(`${node.name}: ${done.length ? done.join(', ') : 'not in a swarm'}`)
  }
  if (failed.length) {
    throw new StepError(`${failed.join(', ')}: leave`, `${plural(failed.length, 'node')} could not be reached, so ${failed.length === 1 ? 'it is' : 'they are'} maybe still in the swarm`, 'start them (or their Docker) and run clean again, or docker swarm leave --force on them by hand')
  }
  return changed
}

export interface NodeStatus {
  name: string
  address: string
  role: string
  /** ready, down, unknown (not in the swarm) */
  state: string
  availability: string
  reachability: string
  labels: Record<string, string>
  tasks: string[]
  inConfig: boolean
  /** Why ssh or the engine did not answer. */
  problem: string | undefined
}

/** Every node: its role, availability, reachability and the tasks it runs, from a manager that answers. */
export async function swarmStatus(ctx: ClusterContext): Promise<{ nodes: NodeStatus[]; healthy: boolean }> {
  const { out } = ctx
  const probes = await Promise.all(ctx.shells.map(probe))
  const reach = (p: Probe) => (p.unreachable ? 'UNREACHABLE' : p.swarm ? (ctx.config.provider === 'local' ? 'engine ok' : 'ssh ok, engine ok') : 'ssh ok, ENGINE DOWN')
  const why = (p: Probe | undefined) => p?.unreachable ?? p?.engineProblem
  const managerIndex = probes.findIndex((p) => p.swarm?.LocalNodeState === 'active' && p.swarm.ControlAvailable)
  if (managerIndex < 0) {
    out.line(`no manager of a swarm answers (${probes.map((p) => `${p.node.name}: ${p.swarm ? `swarm ${p.swarm.LocalNodeState}` : `${reach(p)}: ${why(p)}`}`).join('; ')})`)
    out.line('status: no swarm; activity cluster init builds it')
    return { nodes: [], healthy: false }
  }
  const manager = ctx.shells[managerIndex]!
  const [all, tasks] = await Promise.all([members(ctx, manager), runningTasks(ctx, manager)])
  const shortTask = (name: string) => name.replace(/\.[a-z0-9]{25}$/, '')
  const statusOf = (m: SwarmMember | undefined, p: Probe | undefined, node?: ClusterNode): NodeStatus => ({
    name: node?.name ?? m?.Description.Hostname ?? '?',
    address: m?.Status.Addr ?? node?.address ?? '',
    role: m ? `${m.Spec.Role}${m.ManagerStatus ? ` (${m.ManagerStatus.Leader ? 'leader' : m.ManagerStatus.Reachability})` : ''}` : (node?.role ?? ''),
    state: m?.Status.State ?? 'not in the swarm',
    availability: m?.Spec.Availability ?? '-',
    reachability: p ? reach(p) : 'not in activity.yml',
    problem: why(p),
    labels: m?.Spec.Labels ?? {},
    tasks: m ? tasks.filter((t) => t.Node === m.Description.Hostname).map((t) => shortTask(t.Name)).sort() : [],
    inConfig: Boolean(node),
  })
  const nodes = ctx.shells.map((s, i) => statusOf(memberOf(s.node, probes[i], all), probes[i], s.node))
  const matched = new Set(ctx.shells.map((s, i) => memberOf(s.node, probes[i], all)?.ID))
  nodes.push(...all.filter((m) => !matched.has(m.ID)).map((m) => statusOf(m, undefined)))

  out.line(`${'NODE'.padEnd(12)} ${'ADDRESS'.padEnd(15)} ${'ROLE'.padEnd(18)} ${'STATUS'.padEnd(8)} ${'AVAILABILITY'.padEnd(12)} ${'REACHABILITY'.padEnd(22)} LABELS | TASKS`)
  for (const n of nodes) {
    const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).sort().join(',') || '-'
    out.line(`${n.name.padEnd(12)} ${n.address.padEnd(15)} ${n.role.padEnd(18)} ${n.state.padEnd(8)} ${n.availability.padEnd(12)} ${n.reachability.padEnd(22)} ${labels} | ${n.tasks.join(' ') || '-'}`)
  }
  const bad = nodes.filter((n) => n.inConfig && (n.state !== 'ready' || !n.reachability.includes('engine ok')))
  out.line(bad.length ? `status: ${plural(bad.length, 'node')} not ready: ${bad.map((n) => `${n.name} (${n.state}, ${n.reachability}${n.problem ? `: ${n.problem}` : ''})`).join('; ')}` : `status: all ${plural(nodes.length, 'node')} ready`)
  return { nodes, healthy: !bad.length }
}

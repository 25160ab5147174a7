// The cluster: section of activity.yml: which machines the swarm runs on, and how `activity cluster` reaches them.
import * as v from 'valibot'
import type { ConfigError } from './errors.ts'
import { allowedFor, check, type Problem } from './schema.ts'

export const providers = ['local', 'virtualbox', 'ssh'] as const
export type Provider = (typeof providers)[number]

export interface ClusterNode {
  name: string
  role: 'manager' | 'worker'
  /** Where ssh reaches it (ssh: from the config; virtualbox: the VM's host-only address; local: none). */
  host: string | undefined
  /** The swarm advertise address: `address`, else `host`. */
  address: string | undefined
  /** Labelled activity.storage=true: the node that keeps the platform's volumes. */
  storage: boolean
  /** Mounts the shared folder (shared.path, /data). */
  shared: boolean
  /** Line of the node's entry and of its host in the file, for errors found later (an unreachable host). */
  line: number | undefined
  hostLine: number | undefined
  /** `cluster.nodes[2]`: how errors name it. */
  field: string
}

export interface ClusterConfig {
  file: string
  provider: Provider
  nodes: ClusterNode[]
  ssh: { user: string; port: number; identityFile: string | undefined; knownHostsFile: string | undefined; connectTimeout: number }
  /** The shared folder; source undefined when nothing is shared. */
  shared: { path: string; source: string | undefined }
  virtualbox: {
    prefix: string
    cpus: number
    memory: number
    disk: number
    image: string | undefined
    /** Host-only network: the host is .1, node i is .(10 + i). */
    network: string
    /** Where the VMs, disks and seed ISOs live. */
    dir: string
    /** The host's folder exported over NFS to the VMs (mounted at shared.path on the shared nodes). */
    folder: string
  }
}

/** What config.ts hands a section parser: errors that carry the file and the line. */
export interface SectionAt {
  file: string
  error(path: (string | number)[], problem: string, fix?: string, key?: boolean): ConfigError
  fromProblem(base: (string | number)[], problem: Problem, fix?: string): ConfigError
  lineOf(path: (string | number)[]): number | undefined
}

const name = v.pipe(v.string('expected a node name'), v.regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be letters, digits and dashes (it becomes a hostname)'))

const nodeSchema = v.union([
  name,
  v.strictObject({
    name,
    host: v.optional(v.pipe(v.string('expected an address or hostname'), v.minLength(1, 'is empty'))),
    address: v.optional(v.pipe(v.string(), v.minLength(1, 'is empty'))),
  }),
])

const whole = (message: string, min: number, minMessage?: string) => v.pipe(v.number(message), v.integer(message), v.minValue(min, minMessage))

export const clusterSchema = v.optional(
  v.strictObject({
    provider: v.optional(v.picklist(providers, `must be one of ${providers.join(', ')}`), 'local'),
    managers: v.optional(whole('expected a whole number', 0), 1),
    nodes: v.optional(v.union([whole('expected a number of nodes or a list of them', 1, 'must be at least 1'), v.array(nodeSchema)])),
    storage: v.optional(v.array(name)),
    shared: v.optional(
      v.strictObject({
        path: v.optional(v.pipe(v.string(), v.regex(/^\//, 'must be an absolute path')), '/data'),
        source: v.optional(v.string()),
        nodes: v.optional(v.array(name)),
      }),
    ),
    ssh: v.optional(
      v.strictObject({
        user: v.optional(v.string(), 'root'),
        port: v.optional(v.pipe(whole('expected a port number', 1), v.maxValue(65535)), 22),
        identityFile: v.optional(v.string()),
        knownHostsFile: v.optional(v.string()),
        connectTimeout: v.optional(whole('expected seconds', 1), 10),
      }),
      {},
    ),
    virtualbox: v.optional(
      v.strictObject({
        prefix: v.optional(name, 'activity'),
        cpus: v.optional(whole('expected a number of CPUs', 1), 2),
        memory: v.optional(whole('expected MiB, e.g. 2048', 512, 'must be at least 512 (MiB)'), 2048),
        disk: v.optional(whole('expected MiB, e.g. 20480', 4096, 'must be at least 4096 (MiB)'), 20480),
        image: v.optional(v.string()),
        network: v.optional(v.pipe(v.string(), v.regex(/^(\d+)\.(\d+)\.(\d+)\.0\/24$/, 'must be a /24 network such as 192.168.56.0/24')), '192.168.56.0/24'),
        dir: v.optional(v.string(), '~/.activity/virtualbox'),
        folder: v.optional(v.string(), '~/.activity/data'),
      }),
      {},
    ),
  }),
  {},
)

type RawCluster = v.InferOutput<typeof clusterSchema>

/** ~ at the start of a path is the user's home (activity.yml is shared, homes are not). */
export function expandHome(path: string, home = process.env.HOME ?? ''): string {
  return path === '~' ? home : path.startsWith('~/') ? `${home}${path.slice(1)}` : path
}

/** Node i (from 0) of a virtualbox network: .11, .12, ... */
export function virtualboxAddress(network: string, index: number): string {
  return network.replace(/0\/24$/, String(11 + index))
}

export function virtualboxHostAddress(network: string): string {
  return network.replace(/0\/24$/, '1')
}

function defaultNames(count: number, managers: number): string[] {
  return Array.from({ length: count }, (_, i) => (i < managers ? `manager${i + 1}` : `worker${i - managers + 1}`))
}

/** Parses the cluster: section (undefined: the local single node). Cross-checks point at the line of the entry at fault. */
export function parseCluster(at: SectionAt, value: unknown, providerOverride?: Provider): ClusterConfig {
  const parsed = check(clusterSchema, value ?? undefined)
  if (!parsed.ok) {
    const { problem } = parsed
    const fix =
      problem.path[0] === 'provider'
        ? 'e.g. provider: ssh (existing hosts), virtualbox (VMs made here) or local (this engine)'
        : problem.unknown
          ? allowedFor(clusterSchema, problem)
          : undefined
    throw at.fromProblem(['cluster'], problem, fix)
  }
  const raw: RawCluster = parsed.value
  const provider = providerOverride ?? raw.provider
  const entries = nodeEntries(raw, provider)
  if (raw.managers < 1) throw at.error(['cluster', 'managers'], 'no manager: a swarm needs at least one', 'set managers: 1 (or 3 to survive losing one)')
  if (entries.length && raw.managers > entries.length) {
    throw at.error(['cluster', 'managers'], `${raw.managers} managers but only ${entries.length} node${entries.length === 1 ? '' : 's'}`, `list more nodes or set managers: ${entries.length}`)
  }

  const seen = new Map<string, number>()
  entries.forEach((entry, index) => {
    const first = seen.get(entry.name)
    if (first !== undefined) throw at.error(['cluster', 'nodes', index], `duplicate node name '${entry.name}' (also nodes[${first}])`, 'give each node its own name')
    seen.set(entry.name, index)
    if (provider === 'ssh' && !entry.host) {
      throw at.error(['cluster', 'nodes', index], `node '${entry.name}' has no host`, `the ssh provider reaches each node by its address: - {name: ${entry.name}, host: 10.0.0.${11 + index}}`)
    }
  })
  if (provider === 'ssh' && !entries.length) throw at.error(['cluster'], 'the ssh provider needs nodes: with their hosts', 'add nodes: [{name: manager1, host: 10.0.0.11}, ...]')

  const checkNames = (path: (string | number)[], names: string[] | undefined) =>
    names?.forEach((n, i) => {
      if (!seen.has(n)) throw at.error([...path, i], `'${n}' is not a node of the cluster`, `use one of: ${[...seen.keys()].join(', ') || '(no nodes listed)'}`)
    })
  checkNames(['cluster', 'storage'], raw.storage)
  checkNames(['cluster', 'shared', 'nodes'], raw.shared?.nodes)

  const vb = { ...raw.virtualbox, image: raw.virtualbox.image && expandHome(raw.virtualbox.image), dir: expandHome(raw.virtualbox.dir), folder: expandHome(raw.virtualbox.folder) }
  const sharedSource = raw.shared?.source ?? (provider === 'virtualbox' && raw.shared ? `${virtualboxHostAddress(vb.network)}:${vb.folder}` : undefined)
  const managerNames = entries.slice(0, raw.managers).map((e) => e.name)
  const storageNames = raw.storage ?? managerNames.slice(0, 1)
  // As the original swarm.sh did: the workers mount the shared folder unless the config names other nodes.
  const sharedNames = raw.shared ? (raw.shared.nodes ?? entries.slice(raw.managers).map((e) => e.name)) : []

  const nodes: ClusterNode[] = entries.map((entry, index) => {
    const host = provider === 'virtualbox' ? virtualboxAddress(vb.network, index) : entry.host
    return {
      name: entry.name,
      role: index < raw.managers ? 'manager' : 'worker',
      host,
      address: entry.address ?? host,
      storage: storageNames.includes(entry.name),
      shared: sharedNames.includes(entry.name),
      line: at.lineOf(['cluster', 'nodes', index]),
      hostLine: typeof raw.nodes === 'object' ? at.lineOf(['cluster', 'nodes', index, 'host']) : undefined,
      field: `cluster.nodes[${index}]`,
    }
  })
  return {
    file: at.file,
    provider,
    nodes,
    ssh: {
      ...raw.ssh,
      // VMs made here get this key (cloud-init), and new host keys each time they are made: their own known_hosts.
      identityFile: expandHome(raw.ssh.identityFile ?? (provider === 'virtualbox' ? '~/.ssh/id_ed25519' : '')) || undefined,
      knownHostsFile: expandHome(raw.ssh.knownHostsFile ?? (provider === 'virtualbox' ? `${vb.dir}/known_hosts` : '')) || undefined,
    },
    shared: { path: raw.shared?.path ?? '/data', source: sharedSource },
    virtualbox: vb,
  }
}

function nodeEntries(raw: RawCluster, provider: Provider): { name: string; host?: string; address?: string }[] {
  if (raw.nodes === undefined) return provider === 'virtualbox' ? defaultNames(3, raw.managers).map((n) => ({ name: n })) : []
  if (typeof raw.nodes === 'number') return defaultNames(raw.nodes, raw.managers).map((n) => ({ name: n }))
  return raw.nodes.map((n) => (typeof n === 'string' ? { name: n } : n))
}

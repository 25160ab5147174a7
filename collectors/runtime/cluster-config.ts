// The cluster: section of activity.yml: which machines the swarm runs on, and how `activity cluster` reaches them.
import { z } from 'zod'
import type { ConfigError } from './errors.ts'

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
  fromZod(base: (string | number)[], issue: z.ZodIssue, fix?: string): ConfigError
  lineOf(path: (string | number)[]): number | undefined
}

const name = z.string({ invalid_type_error: 'expected a node name' }).regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be letters, digits and dashes (it becomes a hostname)')

const nodeSchema = z.union([
  name,
  z
    .object({
      name,
      host: z.string({ invalid_type_error: 'expected an address or hostname' }).min(1, 'is empty').optional(),
      address: z.string().min(1, 'is empty').optional(),
    })
    .strict(),
])

const whole = (message: string) => z.number({ invalid_type_error: message }).int(message)

export const clusterSchema = z
  .object({
    provider: z.enum(providers, { errorMap: () => ({ message: `must be one of ${providers.join(', ')}` }) }).default('local'),
    managers: whole('expected a whole number').min(0).default(1),
    nodes: z.union([whole('expected a number of nodes or a list of them').min(1, 'must be at least 1'), z.array(nodeSchema)]).optional(),
    storage: z.array(name).optional(),
    shared: z
      .object({
        path: z.string().regex(/^\//, 'must be an absolute path').default('/data'),
        source: z.string().optional(),
        nodes: z.array(name).optional(),
      })
      .strict()
      .optional(),
    ssh: z
      .object({
        user: z.string().default('root'),
        port: whole('expected a port number').min(1).max(65535).default(22),
        identityFile: z.string().optional(),
        knownHostsFile: z.string().optional(),
        connectTimeout: whole('expected seconds').min(1).default(10),
      })
      .strict()
      .default({}),
    virtualbox: z
      .object({
        prefix: name.default('activity'),
        cpus: whole('expected a number of CPUs').min(1).default(2),
        memory: whole('expected MiB, e.g. 2048').min(512, 'must be at least 512 (MiB)').default(2048),
        disk: whole('expected MiB, e.g. 20480').min(4096, 'must be at least 4096 (MiB)').default(20480),
        image: z.string().optional(),
        network: z.string().regex(/^(\d+)\.(\d+)\.(\d+)\.0\/24$/, 'must be a /24 network such as 192.168.56.0/24').default('192.168.56.0/24'),
        dir: z.string().default('~/.activity/virtualbox'),
        folder: z.string().default('~/.activity/data'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({})

type RawCluster = z.output<typeof clusterSchema>

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
  const parsed = clusterSchema.safeParse(value ?? undefined)
  if (!parsed.success) {
    const issue = matchedBranch(parsed.error.issues[0]!)
    const fix =
      issue.path[0] === 'provider'
        ? 'e.g. provider: ssh (existing hosts), virtualbox (VMs made here) or local (this engine)'
        : issue.code === 'unrecognized_keys'
          ? `allowed: ${allowedAt(issue.path)}`
          : undefined
    throw at.fromZod(['cluster'], issue, fix)
  }
  const raw: RawCluster = parsed.data
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

/** A value that fits neither form of a union: the problem is the one of the form it resembles (a mapping for a node with fields). */
function matchedBranch(issue: z.ZodIssue): z.ZodIssue {
  while (issue.code === 'invalid_union') {
    const firsts = issue.unionErrors.map((e) => e.issues[0]!).filter(Boolean)
    issue = firsts.find((i) => i.code !== 'invalid_type' || i.path.length > issue.path.length) ?? firsts[0] ?? issue
    if (issue.code === 'invalid_union' && !firsts.length) break
  }
  return issue
}

function allowedAt(path: (string | number)[]): string {
  // Through defaults, optionals, lists and the union of a name or a mapping, to the mapping the key was found in.
  const unwrap = (schema: z.ZodTypeAny, key?: string | number): z.ZodTypeAny => {
    for (;;) {
      if (schema instanceof z.ZodDefault) schema = schema._def.innerType
      else if (schema instanceof z.ZodOptional) schema = schema.unwrap()
      else if (schema instanceof z.ZodUnion) schema = (schema.options as z.ZodTypeAny[]).find((o) => (typeof key === 'number' ? o instanceof z.ZodArray : o instanceof z.ZodObject)) ?? schema.options[0]
      else return schema
    }
  }
  let schema: z.ZodTypeAny = clusterSchema
  for (const key of path) {
    schema = unwrap(schema, key)
    if (schema instanceof z.ZodArray && typeof key === 'number') schema = schema.element
    else if (schema instanceof z.ZodObject && typeof key === 'string' && key in schema.shape) schema = schema.shape[key] as z.ZodTypeAny
    else break
  }
  schema = unwrap(schema)
  return schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : ''
}

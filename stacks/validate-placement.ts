// Checks of a stack service that upstream documentation or an incident asked for, beyond the file's syntax: plain HTTP
// only on the routers allowed it (Traefik redirects the rest to HTTPS), every store on the storage node, and
// cAdvisor's metric flags that keep upstream's defaults. Called by validate-stacks.ts for each service of each file.
import { isMapping } from './stacks.ts'
import { listOf, type Mapping } from './validate-core.ts'

/** What the repository allows (stacks/validate.ts keeps it, with the reasons). */
export interface PlacementPolicy {
  /** Traefik routers (<stack>/<router>) that may answer on plain HTTP, and why. */
  plainHttpRouters: Record<string, string>
  /** Services (<stack>/<service>) with a named volume that may run off the storage node, and why. */
  storeExemptions: Record<string, string>
}

export const storageConstraint = 'node.labels.activity.storage == true'

/** The Traefik service and the flags that send plain HTTP to HTTPS (stacks/admin.yml). */
const traefikService = 'admin/traefik'
const redirectFlags = ['--entryPoints.web.http.redirections.entryPoint.to=websecure', '--entryPoints.web.http.redirections.entryPoint.scheme=https']

/** A service's labels (deploy.labels, list or mapping) as [name, value]. */
function labelsOf(service: Mapping): [string, string][] {
  const labels = isMapping(service.deploy) ? service.deploy.labels : undefined
  if (isMapping(labels)) return Object.entries(labels).map(([k, v]) => [k, String(v)])
  return listOf(labels)
    .filter((entry): entry is string => typeof entry === 'string')
    .map((entry) => {
      const at = entry.indexOf('=')
      return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]
    })
}

const commandOf = (service: Mapping): string[] => listOf(service.command).map(String)

/** A problem of a service: its message (without the file) and the path of the setting under the service. */
export interface ServiceProblem {
  message: string
  at: (string | number)[]
}

/** Routers on plain HTTP that the policy does not allow, and Traefik without its redirect. */
export function plainHttpProblems(stack: string, name: string, service: Mapping, policy: PlacementPolicy): ServiceProblem[] {
  const problems: ServiceProblem[] = []
  if (`${stack}/${name}` === traefikService) {
    const command = commandOf(service)
    for (const flag of redirectFlags) {
      if (!command.includes(flag)) problems.push({ message: `services.${name}.command: has no ${flag}: plain HTTP would answer every route, basic-auth credentials in clear text`, at: ['command'] })
    }
    const slash = '--entryPoints.websecure.http.encodedCharacters.allowEncodedSlash=false'
    if (!command.includes(slash)) {
      problems.push({ message: `services.${name}.command: has no ${slash}: a %2F in the path would slip past the routers' !PathPrefix exclusions (the Prometheus admin API)`, at: ['command'] })
    }
    const asDefault = command.findIndex((arg) => /^--entry[pP]oints\.web\.asDefault=true$/.test(arg))
    if (asDefault >= 0) {
      problems.push({ message: `services.${name}.command: --entryPoints.web.asDefault=true puts every router on plain HTTP; name web only on the routers allowed it (plainHttpRouters in stacks/validate.ts)`, at: ['command', asDefault] })
    }
  }
  for (const [index, [label, value]] of labelsOf(service).entries()) {
    const router = /^traefik\.http\.routers\.([^.]+)\.entrypoints$/i.exec(label)?.[1]
    if (!router) continue
    const entrypoints = value.split(',').map((e) => e.trim())
    if (entrypoints.includes('web') && !policy.plainHttpRouters[`${stack}/${router}`]) {
      problems.push({
        message: `services.${name}: router ${router} answers on plain HTTP (entrypoints=${value}); only ${Object.keys(policy.plainHttpRouters).join(', ')} may: leave web out (HTTPS only), or add it to plainHttpRouters in stacks/validate.ts with the reason`,
        at: isMapping(isMapping(service.deploy) ? service.deploy.labels : undefined) ? ['deploy', 'labels', label] : ['deploy', 'labels', index],
      })
    }
  }
  return problems
}

/**
 * A service that keeps data in a named volume of its file must be constrained to the storage node: a local volume
 * stays on its node, and a constraint on node.role lets a rescheduled task start on another node's empty volume.
 * `interpolate` resolves ${...} in constraints (the defaults of the deploy environment).
 */
export function storeProblems(stack: string, name: string, service: Mapping, namedVolumes: Set<string>, policy: PlacementPolicy, interpolate: (text: string) => string): string[] {
  if (policy.storeExemptions[`${stack}/${name}`]) return []
  const deploy = isMapping(service.deploy) ? service.deploy : {}
  if (deploy.mode === 'global' || deploy.mode === 'global-job') return []
  const volumes = listOf(service.volumes)
    .map((entry) => (typeof entry === 'string' ? entry.split(':')[0] : isMapping(entry) && entry.type !== 'bind' ? entry.source : undefined))
    .filter((source): source is string => typeof source === 'string' && namedVolumes.has(source))
  if (!volumes.length) return []
  const placement = isMapping(deploy.placement) ? deploy.placement : {}
  const constraints = listOf(placement.constraints).map((c) => interpolate(String(c)).replace(/\s+/g, ' ').trim())
  if (constraints.includes(storageConstraint)) return []
  return [
    `services.${name}: keeps ${volumes.join(', ')} in a local volume but is not constrained to the storage node; add deploy.placement.constraints: [${storageConstraint}]${constraints.some((c) => c.startsWith('node.role')) ? ' (node.role lets a rescheduled task start on another node\'s empty volume)' : ''}`,
  ]
}

/** cAdvisor's metric groups, from its docs/runtime_options.md (v0.60.5): what -disable_metrics turns off by default. */
export const cadvisorDefaultDisabled = ['advtcp', 'cpu_topology', 'cpuset', 'hugetlb', 'memory_numa', 'process', 'referenced_memory', 'resctrl', 'sched', 'tcp', 'udp']

/** -disable_metrics replaces cAdvisor's default list (turning the costly groups back on): an explicit -enable_metrics is wanted. */
export function cadvisorProblems(name: string, service: Mapping): string[] {
  if (typeof service.image !== 'string' || !/(^|\/)cadvisor:/.test(service.image)) return []
  const command = commandOf(service)
  const problems: string[] = []
  if (command.some((arg) => /^--?disable_metrics=/.test(arg))) {
    problems.push(`services.${name}.command: -disable_metrics replaces cAdvisor's default list (it would turn on ${cadvisorDefaultDisabled.join(', ')} not named there); list the groups wanted with -enable_metrics instead`)
  }
  const enabled = command.find((arg) => /^--?enable_metrics=/.test(arg))
  if (enabled) {
    const costly = enabled.split('=')[1]!.split(',').filter((group) => cadvisorDefaultDisabled.includes(group.trim()))
    if (costly.length) problems.push(`services.${name}.command: -enable_metrics turns on ${costly.join(', ')}, off by default upstream for their cost; leave them out`)
  }
  return problems
}

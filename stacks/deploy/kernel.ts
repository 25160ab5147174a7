// The kernel settings the stores need on the nodes that may run them: vm.max_map_count for Elasticsearch, and which
// nodes those are (the service's placement constraints read against each node's role and labels).
import type { ComposeFile } from './deploy.ts'
import type { Refusal } from './engine.ts'

/** Elasticsearch's bootstrap check refuses to start below this (https://www.elastic.co/guide/en/elasticsearch/reference/current/vm-max-map-count.html). */
export const minMapCount = 262144

/** Where `activity cluster init` keeps the setting across reboots (read by systemd-sysctl and procps at boot). */
export const sysctlFile = '/etc/sysctl.d/99-activity.conf'

/** A node as placement constraints see it. */
export interface PlacedNode {
  role: string
  labels: Record<string, string>
}

/**
 * Whether a task with these constraints may be placed on the node. Reads `node.role` and `node.labels.*` with == and
 * != (https://docs.docker.com/reference/cli/docker/service/create/#constraint); any other attribute (hostname, id,
 * platform, engine labels) and any label not in `node.labels` (one the user sets, like the nodes3 profile's
 * activity.elasticsearch) cannot be told from here and counts as a match, so no node that may run the store is missed.
 */
export function mayPlace(constraints: readonly string[], node: PlacedNode): boolean {
  return constraints.every((constraint) => {
    const match = /^\s*(node\.role|node\.labels\.[^\s=!]+)\s*(==|!=)\s*(\S+)\s*$/.exec(constraint)
    if (!match) return true
    const [, attribute, operator, expected] = match as unknown as [string, string, string, string]
    const label = attribute.slice('node.labels.'.length)
    if (attribute !== 'node.role' && !(label in node.labels)) return true
    const actual = attribute === 'node.role' ? node.role : node.labels[label]
    return operator === '==' ? actual === expected : actual !== expected
  })
}

/** Elasticsearch's placement constraints in a rendered logs stack; undefined when the stack runs no Elasticsearch. */
export function elasticsearchConstraints(logs: ComposeFile | undefined): string[] | undefined {
  const service = logs?.services?.elasticsearch
  if (!service) return undefined
  return (service.deploy as { placement?: { constraints?: string[] } } | undefined)?.placement?.constraints ?? []
}

/** The refusal for a node whose map count is too low; `node` is 'this machine' or a node's name. */
export function mapCountRefusal(count: number, node: string): Refusal | undefined {
  if (count >= minMapCount) return undefined
  return {
    problem: `vm.max_map_count is ${count} on ${node}; Elasticsearch needs ${minMapCount} and will not start`,
    fix: `on ${node}: sudo sysctl -w vm.max_map_count=${minMapCount}, and keep it with echo vm.max_map_count=${minMapCount} | sudo tee ${sysctlFile} (activity cluster init does both on the nodes it manages), or deploy --without elasticsearch`,
  }
}

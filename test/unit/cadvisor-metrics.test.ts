// cAdvisor cannot run here (no Debian package, no image): what can be proven without it is that every container_*
// metric the dashboards and alert rules query belongs to a metric group the monitoring stack turns on. The groups
// come from cAdvisor's own metric table (docs/storage/prometheus.md at the pinned v0.60.5), not from the stack.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { dashboardFiles, metricNames, panelQueries, root } from '../support/dashboards.ts'

const test = suite('cAdvisor metric groups')

/**
 * The "-enable_metrics option" column of https://github.com/google/cadvisor/blob/v0.60.5/docs/storage/prometheus.md
 * for the metrics this platform reads ('' = always on).
 */
const upstreamGroup: Record<string, string> = {
  container_cpu_usage_seconds_total: 'cpu',
  container_memory_working_set_bytes: 'memory',
  container_network_receive_bytes_total: 'network',
  container_network_transmit_bytes_total: 'network',
  container_last_seen: '',
  container_start_time_seconds: '',
}

function enabledGroups(): string[] {
  const monitoring = parse(readFileSync(join(root, 'stacks/monitoring.yml'), 'utf8')) as { services: { cadvisor: { command: string[] } } }
  const flag = monitoring.services.cadvisor.command.find((arg) => arg.startsWith('-enable_metrics='))
  assert.ok(flag, 'cadvisor has an explicit -enable_metrics list')
  return flag.slice('-enable_metrics='.length).split(',')
}

function containerMetricsQueried(): Map<string, string[]> {
  const queried = new Map<string, string[]>()
  const add = (metric: string, where: string) => queried.set(metric, [...(queried.get(metric) ?? []), where])
  for (const file of dashboardFiles()) {
    for (const query of panelQueries(file)) {
      for (const metric of metricNames(query.expr ?? '')) if (metric.startsWith('container_')) add(metric, query.where)
    }
  }
  const rules = readFileSync(join(root, 'stacks/monitoring/rules.yml'), 'utf8')
  for (const match of rules.matchAll(/\bcontainer_[a-z_]+/g)) add(match[0], 'stacks/monitoring/rules.yml')
  return queried
}

test('every container_* metric queried is in a group cAdvisor is told to collect, the network panel included', () => {
  const groups = enabledGroups()
  const queried = containerMetricsQueried()
  assert.ok(queried.has('container_network_receive_bytes_total'), 'the platform dashboard queries the network per service')
  const problems: string[] = []
  for (const [metric, where] of queried) {
    const group = upstreamGroup[metric]
    if (group === undefined) problems.push(`${metric} (${where[0]}): not in this test's table; add its group from cAdvisor's docs/storage/prometheus.md`)
    else if (group && !groups.includes(group)) problems.push(`${metric} (${where[0]}): its group ${group} is not in -enable_metrics=${groups.join(',')}`)
  }
  assert.equal(problems, [])
})

test.run()

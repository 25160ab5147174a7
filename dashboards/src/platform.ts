// Platform: nodes, containers, Swarm services and job runs, both Prometheus servers, the Pushgateway, Traefik and alerts, from the monitoring Prometheus.
import { MappingType, RowBuilder, type ValueMapping } from '@grafana/grafana-foundation-sdk/dashboard'
import { bars, dashboard, datasource, datasourceVariable, finish, greenFrom, labelVariable, mixed, okFailed, prom, stat, states, table, timeseries } from './common.ts'

/** Node-exporter series of the selected nodes, labelled with the node's host name (node_uname_info). */
const onNode = (expr: string) => `(${expr}) * on (instance) group_left (nodename) node_uname_info{instance=~"$instance"}`
const node = '{instance=~"$instance"}'
/** Real filesystems only, as the DiskFilling alert counts them (stacks/monitoring/rules.yml). */
const disk = '{instance=~"$instance", fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"}'
const physical = 'device!~"lo|veth.*|docker.*|br-.*|virbr.*"'

/** cAdvisor keeps the Docker labels of each container; Swarm sets these on every task's container. */
const service = 'container_label_com_docker_swarm_service_name'
const stack = 'container_label_com_docker_stack_namespace'
const inSwarm = `{${service}!=""}`

const upDown: ValueMapping[] = [{ type: MappingType.ValueToText, options: { '0': { text: 'down', color: 'red', index: 0 }, '1': { text: 'up', color: 'green', index: 1 } } }]
const never: ValueMapping[] = [{ type: MappingType.ValueToText, options: { '0': { text: 'never', color: 'green', index: 0 } } }]

export function platform() {
  const board = dashboard({
    uid: 'activity-platform',
    title: 'Platform',
    description: 'The machinery under the dashboards: nodes, containers and Swarm services, job runs, both Prometheus servers, the Pushgateway, Traefik and the alerts that fire.',
    tags: ['platform'],
    time: 'now-6h',
  })
    .withVariable(datasourceVariable(datasource.monitoring))
    .withVariable(labelVariable({ name: 'instance', label: 'Node', series: 'node_uname_info', description: 'node-exporter instances (one per Swarm node).' }))

  board.withRow(new RowBuilder('Nodes'))
  board.withPanel(stat({ title: 'Nodes reporting', description: 'Nodes whose node-exporter answers (node_uname_info).', unit: 'short', w: 4, targets: [prom(`count(node_uname_info${node})`, { instant: true, legend: 'nodes' })] }))
  board.withPanel(
    stat({
      title: 'Busiest CPU',
      description: 'CPU use of the busiest selected node (all cores, not idle).',
      unit: 'percentunit',
      w: 4,
      steps: [
        [null, 'green'],
        [0.8, 'orange'],
        [0.95, 'red'],
      ],
      targets: [prom(`max(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", instance=~"$instance"}[$__rate_interval])))`, { instant: true, legend: 'cpu' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Fullest disk',
      description: 'Use of the fullest filesystem of the selected nodes (node_filesystem_avail_bytes / node_filesystem_size_bytes).',
      unit: 'percentunit',
      w: 4,
      steps: [
        [null, 'green'],
        [0.8, 'orange'],
        [0.9, 'red'],
      ],
      targets: [prom(`max(1 - node_filesystem_avail_bytes${disk} / node_filesystem_size_bytes${disk})`, { instant: true, legend: 'disk' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Memory in use',
      description: 'Memory in use on the fullest selected node (1 - MemAvailable / MemTotal).',
      unit: 'percentunit',
      w: 4,
      steps: [
        [null, 'green'],
        [0.85, 'orange'],
        [0.95, 'red'],
      ],
      targets: [prom(`max(1 - node_memory_MemAvailable_bytes${node} / node_memory_MemTotal_bytes${node})`, { instant: true, legend: 'memory' })],
    }),
  )
  board.withPanel(stat({ title: 'Uptime', description: 'Time since the most recently booted selected node started (node_boot_time_seconds).', unit: 's', w: 8, targets: [prom(`min(time() - node_boot_time_seconds${node})`, { instant: true, legend: 'uptime' })] }))
  board.withPanel(
    timeseries({
      title: 'CPU',
      description: 'Share of CPU time not idle, all cores of each node (node_cpu_seconds_total).',
      unit: 'percentunit',
      w: 8,
      min: 0,
      max: 1,
      targets: [prom(onNode(`1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", instance=~"$instance"}[$__rate_interval]))`), { legend: '{{nodename}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Memory',
      description: 'Memory in use on each node: 1 - MemAvailable / MemTotal (node_memory_*).',
      unit: 'percentunit',
      w: 8,
      min: 0,
      max: 1,
      targets: [prom(onNode(`1 - node_memory_MemAvailable_bytes${node} / node_memory_MemTotal_bytes${node}`), { legend: '{{nodename}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Load',
      description: '1-minute load average of each node (node_load1), to compare with its number of cores.',
      unit: 'short',
      w: 8,
      targets: [prom(onNode(`node_load1${node}`), { legend: '{{nodename}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Disk use',
      description: 'Use of each real filesystem of each node (tmpfs, overlay and other pseudo filesystems left out).',
      unit: 'percentunit',
      min: 0,
      max: 1,
      targets: [prom(onNode(`1 - node_filesystem_avail_bytes${disk} / node_filesystem_size_bytes${disk}`), { legend: '{{nodename}} {{mountpoint}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Network',
      description: 'Bytes received (positive) and sent (negative) per second on the physical interfaces of each node (node_network_*_bytes_total).',
      unit: 'Bps',
      targets: [
        prom(onNode(`sum by (instance) (rate(node_network_receive_bytes_total{${physical}, instance=~"$instance"}[$__rate_interval]))`), { legend: '{{nodename}} received' }),
        prom(onNode(`-sum by (instance) (rate(node_network_transmit_bytes_total{${physical}, instance=~"$instance"}[$__rate_interval]))`), { legend: '{{nodename}} sent' }),
      ],
    }),
  )

  board.withRow(new RowBuilder('Containers and Swarm services (cAdvisor)'))
  board.withPanel(
    table({
      title: 'Services',
      description: `Per stack and Swarm service: running tasks (containers cAdvisor sees), CPU and memory. cAdvisor exposes the Docker labels as container_label_*; Swarm sets com.docker.swarm.service.name and com.docker.stack.namespace on every task.`,
      h: 10,
      keep: [stack, service],
      columns: [{ title: 'Tasks running', unit: 'short' }, { title: 'CPU (cores)', unit: 'short' }, { title: 'Memory', unit: 'bytes' }],
      sortBy: 'Memory',
      targets: [
        prom(`count by (${stack}, ${service}) (container_last_seen${inSwarm})`, { instant: true, table: true }),
        prom(`sum by (${stack}, ${service}) (rate(container_cpu_usage_seconds_total${inSwarm}[$__rate_interval]))`, { instant: true, table: true }),
        prom(`sum by (${stack}, ${service}) (container_memory_working_set_bytes${inSwarm})`, { instant: true, table: true }),
      ],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'CPU per service',
      description: 'CPU used by the containers of each Swarm service, in cores (container_cpu_usage_seconds_total).',
      unit: 'short',
      w: 8,
      targets: [prom(`sum by (${service}) (rate(container_cpu_usage_seconds_total${inSwarm}[$__rate_interval]))`, { legend: `{{${service}}}` })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Memory per service',
      description: 'Working-set memory of the containers of each Swarm service (container_memory_working_set_bytes).',
      unit: 'bytes',
      w: 8,
      targets: [prom(`sum by (${service}) (container_memory_working_set_bytes${inSwarm})`, { legend: `{{${service}}}` })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Network per service',
      description: 'Bytes received per second by the containers of each Swarm service (container_network_receive_bytes_total).',
      unit: 'Bps',
      w: 8,
      targets: [prom(`sum by (${service}) (rate(container_network_receive_bytes_total${inSwarm}[$__rate_interval]))`, { legend: `{{${service}}}` })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Tasks per service',
      description: 'Running containers of each Swarm service over time (container_last_seen): a dip is a restart or a failed task.',
      unit: 'short',
      targets: [prom(`count by (${service}) (container_last_seen${inSwarm})`, { legend: `{{${service}}}` })],
    }),
  )
  board.withPanel(
    bars({
      title: 'Collector job runs in the range',
      description:
        'Containers each collector service (replicated job of the collectors stack) started in the selected range: one per run. Counted from the distinct containers cAdvisor saw (container_start_time_seconds); runs shorter than a scrape interval can be missed, the Collectors health dashboard has every run.',
      unit: 'short',
      targets: [prom(`count by (${service}) (count_over_time(container_start_time_seconds{${stack}="collectors"}[$__range]))`, { instant: true, legend: `{{${service}}}` })],
    }),
  )

  board.withRow(new RowBuilder('Prometheus and Pushgateway'))
  board.withPanel(
    states({
      title: 'Scrape targets',
      description:
        'Whether each scrape target answered its last scrape (up), as each Prometheus sees it: the monitoring Prometheus scrapes the platform (both Prometheus servers, node-exporter, cAdvisor, Traefik, the Pushgateway, gitops, ...); the metrics Prometheus scrapes only the Pushgateway, the collected data.',
      source: mixed,
      mappings: upDown,
      steps: greenFrom(1),
      h: 9,
      targets: [prom('up', { source: datasource.monitoring, legend: 'monitoring: {{job}} {{instance}}' }), prom('up', { source: datasource.prometheus, legend: 'metrics: {{job}} {{instance}}' })],
    }),
  )
  const prometheus = 'job=~"prometheus|metrics-prometheus"'
  board.withPanel(
    timeseries({ title: 'Series in memory', description: 'Active series in the head block of each Prometheus (prometheus_tsdb_head_series), as the monitoring Prometheus scrapes them.', unit: 'short', w: 8, targets: [prom(`prometheus_tsdb_head_series{${prometheus}}`, { legend: '{{job}}' })] }),
  )
  board.withPanel(
    timeseries({
      title: 'Samples ingested',
      description: 'Samples appended per second by each Prometheus (prometheus_tsdb_head_samples_appended_total).',
      unit: 'short',
      w: 8,
      targets: [prom(`rate(prometheus_tsdb_head_samples_appended_total{${prometheus}}[$__rate_interval])`, { legend: '{{job}}' })],
    }),
  )
  board.withPanel(
    timeseries({ title: 'Storage', description: 'Bytes of the persisted blocks of each Prometheus (prometheus_tsdb_storage_blocks_bytes): the history the backups keep.', unit: 'bytes', w: 8, targets: [prom(`prometheus_tsdb_storage_blocks_bytes{${prometheus}}`, { legend: '{{job}}' })] }),
  )
  board.withPanel(
    stat({
      title: 'Configuration loaded',
      description: 'Whether the last configuration reload of each Prometheus succeeded (prometheus_config_last_reload_successful).',
      mappings: okFailed,
      steps: greenFrom(1),
      w: 6,
      h: 8,
      targets: [prom(`min by (job) (prometheus_config_last_reload_successful{${prometheus}})`, { instant: true, legend: '{{job}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Rule evaluation failures',
      description: 'Alert rules that failed to evaluate, per second (prometheus_rule_evaluation_failures_total of the monitoring Prometheus, which holds the rules); anything above zero is a broken rule.',
      unit: 'short',
      w: 9,
      targets: [prom('sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total{job="prometheus"}[$__rate_interval]))', { legend: '{{rule_group}}' })],
    }),
  )
  board.withPanel(
    timeseries({ title: 'Scrape duration', description: 'How long the scrapes of each job took (scrape_duration_seconds).', unit: 's', w: 9, targets: [prom('max by (job) (scrape_duration_seconds)', { legend: '{{job}}' })] }),
  )
  board.withPanel(
    stat({
      title: 'Pushgateway',
      description: 'Whether the Pushgateway answers its scrapes (up joined with pushgateway_build_info), and its version.',
      mappings: upDown,
      steps: greenFrom(1),
      w: 4,
      h: 8,
      targets: [prom('max by (version) (up * on (job, instance) group_left (version) pushgateway_build_info)', { instant: true, legend: 'version {{version}}' })],
    }),
  )
  board.withPanel(
    table({
      title: 'Pushgateway groups',
      description: 'Every group in the Pushgateway (one per collector target, and its health group): when it was last pushed (push_time_seconds) and when a push to it last failed (push_failure_time_seconds, "never" if none).',
      w: 10,
      h: 8,
      keep: ['job', 'target', 'group'],
      columns: [{ title: 'Last push', unit: 'dateTimeFromNow' }, { title: 'Last failed push', unit: 'dateTimeFromNow', mappings: never }],
      sortBy: 'Last push',
      targets: [prom('max by (job, target, group) (push_time_seconds) * 1000', { instant: true, table: true }), prom('max by (job, target, group) (push_failure_time_seconds) * 1000', { instant: true, table: true })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Pushgateway requests',
      description: 'Requests per second the Pushgateway answered, by handler and status code (pushgateway_http_requests_total): pushes are handler "push".',
      unit: 'reqps',
      w: 5,
      targets: [prom('sum by (handler, code) (rate(pushgateway_http_requests_total[$__rate_interval]))', { legend: '{{handler}} {{code}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Pushgateway memory',
      description: 'Resident memory of the Pushgateway process (process_resident_memory_bytes of the scrape job that has pushgateway_build_info).',
      unit: 'bytes',
      w: 5,
      targets: [prom('process_resident_memory_bytes * on (job, instance) group_left () pushgateway_build_info', { legend: '{{instance}}' })],
    }),
  )

  board.withRow(new RowBuilder('Traefik'))
  board.withPanel(
    timeseries({
      title: 'Requests by entry point and status',
      description: 'Requests per second Traefik answered, per entry point and status code (traefik_entrypoint_requests_total).',
      unit: 'reqps',
      w: 8,
      targets: [prom('sum by (entrypoint, code) (rate(traefik_entrypoint_requests_total[$__rate_interval]))', { legend: '{{entrypoint}} {{code}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Server errors by service',
      description: 'Responses with a 5xx status per second, per Traefik service (traefik_service_requests_total).',
      unit: 'reqps',
      w: 8,
      targets: [prom('sum by (service) (rate(traefik_service_requests_total{code=~"5.."}[$__rate_interval]))', { legend: '{{service}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Response time (p95) by service',
      description: '95th percentile of the time Traefik services took to answer (traefik_service_request_duration_seconds).',
      unit: 's',
      w: 8,
      targets: [prom('histogram_quantile(0.95, sum by (le, service) (rate(traefik_service_request_duration_seconds_bucket[$__rate_interval])))', { legend: '{{service}}' })],
    }),
  )

  board.withRow(new RowBuilder('Alerts'))
  board.withPanel(
    table({
      title: 'Alerts',
      description: 'Alerts of the monitoring Prometheus (stacks/monitoring/rules.yml) that fire now, or are pending (their condition holds, not yet for long enough), with how many series each (ALERTS). Alertmanager routes the firing ones.',
      w: 12,
      keep: ['alertname', 'alertstate', 'severity'],
      columns: [{ title: 'Series', unit: 'short' }],
      sortBy: 'Series',
      targets: [prom('sum by (alertname, alertstate, severity) (ALERTS)', { instant: true, table: true })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Alerts over time',
      description: 'Series per alert and state over time (ALERTS): pending first, firing once the rule held for its `for` duration.',
      unit: 'short',
      w: 12,
      bars: true,
      targets: [prom('count by (alertname, alertstate) (ALERTS)', { legend: '{{alertname}} {{alertstate}}' })],
    }),
  )
  return finish(board)
}

// Collectors health: is every source collected on time, how long runs take, how many API requests they cost, what failed.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { dashboard, datasource, datasourceVariable, finish, greenFrom, labelVariable, okFailed, prom, redFrom, stat, states, table, timeseries } from './common.ts'

const run = '{job=~"$source", target=~"$target"}'
/** Health metrics are pushed to the group {job, target, group="health"}; max by drops `group` (and the instance). */
const perTarget = (metric: string) => `max by (job, target) (${metric}${run})`
/** How old the last success is, counted in schedule intervals: above 2 the collector missed two runs in a row. */
const lateness = `(time() - ${perTarget('activity_collector_last_success_timestamp_seconds')}) / on (job, target) ${perTarget('activity_collector_schedule_interval_seconds')}`

export function collectors() {
  const board = dashboard({
    uid: 'activity-collectors',
    title: 'Collectors health',
    description: 'Every collector run (source and target): last success, last result, duration, API requests, samples and rate limit, from the health metrics each run pushes.',
    tags: ['platform', 'collectors'],
    time: 'now-24h',
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'source', labelName: 'job', label: 'Source', series: 'activity_collector_last_run_timestamp_seconds', description: 'Collectors (the `job` label: github, dockerhub, ...).' }))
    .withVariable(
      labelVariable({ name: 'target', label: 'Target', series: 'activity_collector_last_run_timestamp_seconds{job=~"$source"}', description: 'Targets of the selected sources, as written in activity.yml.' }),
    )

  board.withRow(new RowBuilder('Now'))
  board.withPanel(
    stat({
      title: 'Targets collected',
      description: 'Source/target pairs that reported at least one run (activity_collector_last_run_timestamp_seconds).',
      unit: 'short',
      targets: [prom(`count(${perTarget('activity_collector_last_run_timestamp_seconds')})`, { instant: true, legend: 'targets' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Failing targets',
      description: 'Targets whose last run failed (activity_collector_last_run_success == 0): nothing was pushed for them, their last good values stay.',
      unit: 'short',
      steps: redFrom(1),
      colorBy: 'background',
      targets: [prom(`count(${perTarget('activity_collector_last_run_success')} == 0) or vector(0)`, { instant: true, legend: 'failing' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Late targets',
      description: 'Targets whose last success is older than two schedule intervals (activity_collector_schedule_interval_seconds): the collector missed two runs, or keeps failing.',
      unit: 'short',
      steps: redFrom(1),
      colorBy: 'background',
      targets: [prom(`count(${lateness} > 2) or vector(0)`, { instant: true, legend: 'late' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'API requests of the last runs',
      description: 'HTTP requests the last run of every selected target sent to its API, retries included (activity_collector_api_requests).',
      unit: 'short',
      targets: [prom(`sum(${perTarget('activity_collector_api_requests')})`, { instant: true, legend: 'requests' })],
    }),
  )
  board.withPanel(
    table({
      title: 'Targets',
      description:
        'One row per source and target: last success and last run (pushed by every run), the last result, duration, API requests, samples, the rate limit the API reported, and how old the last success is in schedule intervals (red from 2). A target that never succeeded has no last success.',
      h: 10,
      keep: ['job', 'target'],
      columns: [
        { title: 'Last success', unit: 'dateTimeFromNow' },
        { title: 'Last run', unit: 'dateTimeFromNow' },
        { title: 'Result', mappings: okFailed },
        { title: 'Duration', unit: 's' },
        { title: 'API requests', unit: 'short' },
        { title: 'Samples', unit: 'short' },
        { title: 'Rate limit left', unit: 'short' },
        { title: 'Rate limit resets', unit: 'dateTimeFromNow' },
        { title: 'Success age (intervals)', unit: 'none', steps: redFrom(2) },
      ],
      sortBy: 'Success age (intervals)',
      targets: [
        prom(`${perTarget('activity_collector_last_success_timestamp_seconds')} * 1000`, { instant: true, table: true }),
        prom(`${perTarget('activity_collector_last_run_timestamp_seconds')} * 1000`, { instant: true, table: true }),
        prom(perTarget('activity_collector_last_run_success'), { instant: true, table: true }),
        prom(perTarget('activity_collector_duration_seconds'), { instant: true, table: true }),
        prom(perTarget('activity_collector_api_requests'), { instant: true, table: true }),
        prom(perTarget('activity_collector_samples'), { instant: true, table: true }),
        prom(perTarget('activity_collector_rate_limit_remaining'), { instant: true, table: true }),
        prom(`${perTarget('activity_collector_rate_limit_reset_timestamp_seconds')} * 1000`, { instant: true, table: true }),
        prom(lateness, { instant: true, table: true }),
      ],
    }),
  )

  board.withRow(new RowBuilder('Over time'))
  board.withPanel(
    states({
      title: 'Run results',
      description: 'The result of the last run of each target over time (activity_collector_last_run_success): green ok, red failed.',
      mappings: okFailed,
      steps: greenFrom(1),
      targets: [prom(perTarget('activity_collector_last_run_success'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Age of the last success',
      description: 'Time since the last successful run of each target (activity_collector_last_success_timestamp_seconds). It falls back to zero at every success; a line that keeps rising is a collector that stopped succeeding.',
      unit: 's',
      targets: [prom(`time() - ${perTarget('activity_collector_last_success_timestamp_seconds')}`, { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Schedule interval',
      description: 'Longest gap between two scheduled runs of each source (activity_collector_schedule_interval_seconds), from its cron schedule: the yardstick for "late".',
      unit: 's',
      targets: [prom(perTarget('activity_collector_schedule_interval_seconds'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Run duration',
      description: 'Wall-clock duration of the last run of each target (activity_collector_duration_seconds).',
      unit: 's',
      targets: [prom(perTarget('activity_collector_duration_seconds'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'API requests per run',
      description: 'HTTP requests the last run of each target sent to its API, retries included (activity_collector_api_requests).',
      unit: 'short',
      targets: [prom(perTarget('activity_collector_api_requests'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Rate-limit points per run',
      description: 'Rate-limit points the last run of each target spent, as the API bills them (activity_collector_rate_limit_points): GitHub GraphQL points, one per GitHub REST request; none for Docker Hub.',
      unit: 'short',
      targets: [prom(perTarget('activity_collector_rate_limit_points'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Samples per run',
      description: 'Samples the last run of each target recorded (activity_collector_samples; 0 when it failed). A drop means the API returned less, e.g. a repository was removed.',
      unit: 'short',
      targets: [prom(perTarget('activity_collector_samples'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Rate limit remaining',
      description: 'Requests (or GraphQL points) left in the API rate-limit window at the end of the last run (activity_collector_rate_limit_remaining). Sources whose API sends no rate-limit headers have no line.',
      unit: 'short',
      targets: [prom(perTarget('activity_collector_rate_limit_remaining'), { legend: '{{job}} {{target}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Time until the rate limit resets',
      description: 'Time until the API rate-limit window resets, as the API reported it (activity_collector_rate_limit_reset_timestamp_seconds). Negative once the reset has passed.',
      unit: 's',
      targets: [prom(`${perTarget('activity_collector_rate_limit_reset_timestamp_seconds')} - time()`, { legend: '{{job}} {{target}}' })],
    }),
  )
  return finish(board)
}

// Docker Hub detail: every metric the dockerhub collector exposes, per repository and per namespace, with units.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { bars, dashboard, datasource, datasourceVariable, finish, labelVariable, prom, stat, table, timeseries } from './common.ts'

const image = '{namespace=~"$namespace", repository=~"$repository"}'
const perImage = (metric: string) => `max by (namespace, repository) (${metric}${image})`
const change = (metric: string, range: string) => `max by (namespace, repository) (round(delta(${metric}${image}[${range}])))`

export function dockerhub() {
  const board = dashboard({
    uid: 'activity-dockerhub',
    title: 'Docker Hub',
    description: 'Every figure the dockerhub collector gathers from the Docker Hub API: pulls, stars and last push per repository, repositories per namespace.',
    tags: ['dockerhub'],
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'namespace', label: 'Namespace', series: 'dockerhub_repository_pulls', description: 'Docker Hub namespaces (organisations or users).' }))
    .withVariable(
      labelVariable({ name: 'repository', label: 'Repository', series: 'dockerhub_repository_pulls{namespace=~"$namespace"}', description: 'Repositories of the selected namespaces.' }),
    )

  board.withRow(new RowBuilder('Now'))
  board.withPanel(
    stat({
      title: 'Pulls',
      description: 'Image pulls of the selected repositories since they were created, as Docker Hub counts them, and the pulls gained in the selected range.',
      unit: 'short',
      targets: [prom(`sum(${perImage('dockerhub_repository_pulls')})`, { instant: true, legend: 'now' }), prom(`sum(${change('dockerhub_repository_pulls', '$__range')})`, { instant: true, legend: 'gained in range' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Stars',
      description: 'Docker Hub stars of the selected repositories, and the change in the selected range.',
      unit: 'short',
      targets: [prom(`sum(${perImage('dockerhub_repository_stars')})`, { instant: true, legend: 'now' }), prom(`sum(${change('dockerhub_repository_stars', '$__range')})`, { instant: true, legend: 'change in range' })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Repositories per namespace',
      description: 'Public repositories in each namespace (dockerhub_namespace_repositories; only namespaces watched as a whole, e.g. target `prom`, have it).',
      unit: 'short',
      w: 12,
      targets: [prom('max by (namespace) (dockerhub_namespace_repositories{namespace=~"$namespace"})', { instant: true, legend: '{{namespace}}' })],
    }),
  )
  board.withPanel(
    table({
      title: 'Repositories',
      description: 'One row per repository: pulls and stars now, pulls gained in the selected range, and when an image was last pushed.',
      h: 10,
      keep: ['namespace', 'repository'],
      columns: [{ title: 'Pulls', unit: 'short' }, { title: 'Pulls gained', unit: 'short' }, { title: 'Stars', unit: 'short' }, { title: 'Last updated', unit: 'dateTimeFromNow' }],
      sortBy: 'Pulls',
      targets: [
        prom(perImage('dockerhub_repository_pulls'), { instant: true, table: true }),
        prom(change('dockerhub_repository_pulls', '$__range'), { instant: true, table: true }),
        prom(perImage('dockerhub_repository_stars'), { instant: true, table: true }),
        prom(`${perImage('dockerhub_repository_last_updated_timestamp_seconds')} * 1000`, { instant: true, table: true }),
      ],
    }),
  )

  board.withRow(new RowBuilder('Over time'))
  board.withPanel(
    timeseries({
      title: 'Pulls',
      description: 'Total pulls of each repository over time (dockerhub_repository_pulls).',
      unit: 'short',
      targets: [prom(perImage('dockerhub_repository_pulls'), { legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Pulls per day',
      description: 'Pulls gained in the 24 hours before each point (delta over 1d): the download rate of each image.',
      unit: 'short',
      targets: [prom(change('dockerhub_repository_pulls', '1d'), { legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Stars',
      description: 'Docker Hub stars of each repository over time (dockerhub_repository_stars).',
      unit: 'short',
      targets: [prom(perImage('dockerhub_repository_stars'), { legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Time since last push',
      description: 'How long ago an image was last pushed to each repository (dockerhub_repository_last_updated_timestamp_seconds): a rising line is an image nobody updates.',
      unit: 's',
      targets: [prom(`time() - ${perImage('dockerhub_repository_last_updated_timestamp_seconds')}`, { legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    bars({
      title: 'Most pulled',
      description: 'The ten repositories with most pulls now.',
      unit: 'short',
      w: 12,
      targets: [prom(`topk(10, ${perImage('dockerhub_repository_pulls')})`, { instant: true, legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    bars({
      title: 'Most pulls gained in the range',
      description: 'The ten repositories that gained most pulls in the selected range (delta over $__range).',
      unit: 'short',
      w: 12,
      targets: [prom(`topk(10, ${change('dockerhub_repository_pulls', '$__range')})`, { instant: true, legend: '{{namespace}}/{{repository}}' })],
    }),
  )
  return finish(board)
}

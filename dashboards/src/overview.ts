// Project activity overview: where each watched project stands and how much it moved in the selected range.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { bars, dashboard, datasource, datasourceVariable, finish, labelVariable, prom, stat, table, timeseries } from './common.ts'
import { releases } from './annotations.ts'

const repo = '{owner=~"$owner", repository=~"$repository"}'
const image = '{namespace=~"$namespace"}'

/** One value per repository, also when two targets (an owner and one of its repositories) both collect it. */
const perRepository = (metric: string) => `max by (owner, repository) (${metric}${repo})`
const perImage = (metric: string) => `max by (namespace, repository) (${metric}${image})`
/** How much a gauge moved over the dashboard's range: delta, not increase, because stars and issues also go down. */
const repositoryChange = (metric: string) => `max by (owner, repository) (round(delta(${metric}${repo}[$__range])))`
const imageChange = (metric: string) => `max by (namespace, repository) (round(delta(${metric}${image}[$__range])))`

interface Figure {
  title: string
  metric: string
  what: string
}

const github: Figure[] = [
  { title: 'Stars', metric: 'github_repository_stars', what: 'stars' },
  { title: 'Forks', metric: 'github_repository_forks', what: 'forks' },
  { title: 'Watchers', metric: 'github_repository_watchers', what: 'watchers (people subscribed to notifications)' },
  { title: 'Open issues', metric: 'github_repository_open_issues', what: 'open issues' },
  { title: 'Open pull requests', metric: 'github_repository_open_pull_requests', what: 'open pull requests' },
  { title: 'Merged pull requests', metric: 'github_repository_merged_pull_requests', what: 'merged pull requests (all time)' },
  { title: 'Releases', metric: 'github_repository_releases', what: 'published releases' },
  { title: 'Release downloads', metric: 'github_repository_release_downloads', what: 'downloads of the assets of the most recent releases (the collector option `releases`, default 5)' },
]

const dockerhub: Figure[] = [
  { title: 'Docker Hub pulls', metric: 'dockerhub_repository_pulls', what: 'image pulls, as Docker Hub counts them' },
  { title: 'Docker Hub stars', metric: 'dockerhub_repository_stars', what: 'Docker Hub stars' },
]

function nowAndChange(figure: Figure, perSeries: (metric: string) => string, change: (metric: string) => string, scope: string) {
  return stat({
    title: figure.title,
    description: `Total ${figure.what} of the selected ${scope} now, and how much that total moved in the selected time range (delta of the gauge over $__range, rounded).`,
    unit: 'short',
    decimals: 0,
    targets: [prom(`sum(${perSeries(figure.metric)})`, { instant: true, legend: 'now' }), prom(`sum(${change(figure.metric)})`, { instant: true, legend: 'change in range' })],
  })
}

export function overview() {
  const board = dashboard({
    uid: 'activity-overview',
    title: 'Project activity overview',
    description: 'Stars, forks, issues, pull requests, releases and Docker Hub pulls of every watched project: now, change over the range, over time, and who grew most.',
    tags: ['github', 'dockerhub'],
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'owner', label: 'GitHub owner', series: 'github_repository_stars', description: 'GitHub organisations or users (targets of the github source).' }))
    .withVariable(
      labelVariable({ name: 'repository', label: 'GitHub repository', series: 'github_repository_stars{owner=~"$owner"}', description: 'Repositories of the selected owners.' }),
    )
    .withVariable(labelVariable({ name: 'namespace', label: 'Docker Hub namespace', series: 'dockerhub_repository_pulls', description: 'Docker Hub namespaces (targets of the dockerhub source).' }))
    .annotation(releases(repo))

  board.withRow(new RowBuilder('GitHub: now, and change over the selected range'))
  for (const figure of github) board.withPanel(nowAndChange(figure, perRepository, repositoryChange, 'GitHub repositories'))

  board.withRow(new RowBuilder('Per owner and per repository'))
  board.withPanel(
    table({
      title: 'Owners',
      description: 'Per GitHub owner: repositories watched, their stars and forks now, and stars gained in the selected range.',
      h: 7,
      keep: ['owner'],
      columns: [{ title: 'Repositories', unit: 'short' }, { title: 'Stars', unit: 'short' }, { title: 'Stars gained', unit: 'short' }, { title: 'Forks', unit: 'short' }],
      sortBy: 'Stars',
      targets: [
        prom(`count by (owner) (${perRepository('github_repository_info')})`, { instant: true, table: true }),
        prom(`sum by (owner) (${perRepository('github_repository_stars')})`, { instant: true, table: true }),
        prom(`sum by (owner) (${repositoryChange('github_repository_stars')})`, { instant: true, table: true }),
        prom(`sum by (owner) (${perRepository('github_repository_forks')})`, { instant: true, table: true }),
      ],
    }),
  )
  const columns = [
    ['Stars', 'github_repository_stars'],
    ['Forks', 'github_repository_forks'],
    ['Watchers', 'github_repository_watchers'],
    ['Open issues', 'github_repository_open_issues'],
    ['Open PRs', 'github_repository_open_pull_requests'],
    ['Merged PRs', 'github_repository_merged_pull_requests'],
    ['Releases', 'github_repository_releases'],
    ['Release downloads', 'github_repository_release_downloads'],
  ] as const
  board.withPanel(
    table({
      title: 'Repositories',
      description: 'Every selected GitHub repository now, with the stars it gained in the selected range.',
      h: 10,
      keep: ['owner', 'repository'],
      columns: [{ title: 'Stars gained', unit: 'short' }, ...columns.map(([title]) => ({ title, unit: 'short' }))],
      sortBy: 'Stars gained',
      targets: [
        prom(repositoryChange('github_repository_stars'), { instant: true, table: true }),
        ...columns.map(([, metric]) => prom(perRepository(metric), { instant: true, table: true })),
      ],
    }),
  )

  board.withRow(new RowBuilder('GitHub over time'))
  const overTime = (title: string, metric: string, what: string) =>
    timeseries({
      title,
      description: `${what} of each selected repository over time; on a range of months or years, its history since the repository's creation where it is written.`,
      unit: 'short',
      w: 8,
      // last_over_time over a day: the daily history samples and the scraped present draw one line (see the GitHub dashboard).
      targets: [prom(`max by (owner, repository) (last_over_time(${metric}${repo}[1d]))`, { legend: '{{owner}}/{{repository}}' })],
    })
  board.withPanel(overTime('Stars', 'github_repository_stars', 'Stars'))
  board.withPanel(overTime('Forks', 'github_repository_forks', 'Forks'))
  board.withPanel(overTime('Watchers', 'github_repository_watchers', 'Watchers'))
  board.withPanel(overTime('Open issues', 'github_repository_open_issues', 'Open issues'))
  board.withPanel(overTime('Open pull requests', 'github_repository_open_pull_requests', 'Open pull requests'))
  board.withPanel(overTime('Merged pull requests', 'github_repository_merged_pull_requests', 'Merged pull requests (all time)'))
  board.withPanel(overTime('Releases', 'github_repository_releases', 'Published releases'))
  board.withPanel(overTime('Release downloads', 'github_repository_release_downloads', 'Downloads of the assets of the most recent releases'))

  board.withRow(new RowBuilder('Docker Hub: now, change and over time'))
  for (const figure of dockerhub) board.withPanel(nowAndChange(figure, perImage, imageChange, 'Docker Hub repositories'))
  board.withPanel(
    timeseries({
      title: 'Docker Hub pulls',
      description: 'Image pulls of each repository of the selected namespaces over time.',
      unit: 'short',
      targets: [prom(perImage('dockerhub_repository_pulls'), { legend: '{{namespace}}/{{repository}}' })],
    }),
  )

  board.withRow(new RowBuilder('Top repositories by growth in the selected range'))
  const top = (title: string, expr: string, what: string, legend: string) =>
    bars({ title, description: `The ten repositories that gained most ${what} in the selected range (delta over $__range).`, unit: 'short', w: 6, targets: [prom(`topk(10, ${expr})`, { instant: true, legend })] })
  board.withPanel(top('Stars gained', repositoryChange('github_repository_stars'), 'stars', '{{owner}}/{{repository}}'))
  board.withPanel(top('Forks gained', repositoryChange('github_repository_forks'), 'forks', '{{owner}}/{{repository}}'))
  board.withPanel(top('Release downloads gained', repositoryChange('github_repository_release_downloads'), 'release downloads', '{{owner}}/{{repository}}'))
  board.withPanel(top('Docker Hub pulls gained', imageChange('dockerhub_repository_pulls'), 'Docker Hub pulls', '{{namespace}}/{{repository}}'))

  return finish(board)
}

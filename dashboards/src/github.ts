// GitHub detail: every metric the github collector exposes, per repository and per owner, with units.
import { MappingType, RowBuilder, type ValueMapping } from '@grafana/grafana-foundation-sdk/dashboard'
import { dashboard, datasource, datasourceVariable, finish, greenFrom, labelVariable, prom, queryTable, stat, timeseries } from './common.ts'
import { releases } from './annotations.ts'

const repo = '{owner=~"$owner", repository=~"$repository"}'
/** github_history_complete: 1 once a repository's history since creation is written, 0 while later runs still write it. */
const historyWritten: ValueMapping[] = [
  { type: MappingType.ValueToText, options: { '0': { text: 'being written', color: 'orange', index: 0 }, '1': { text: 'written', color: 'green', index: 1 } } },
]
const perRepository = (metric: string) => `max by (owner, repository) (${metric}${repo})`
/**
 * A repository's figure over time, history and today as one line: history samples (one a day since the repository's
 * creation, written by `activity history`) and the Pushgateway's current value are the same series, so the last value
 * of the day before each point joins the daily points of the past and the minute-scraped present with no seam.
 */
export const sinceCreation = (metric: string) => `max by (owner, repository) (last_over_time(${metric}${repo}[1d]))`
/** A repository's value with its language, fork and archived flags as labels (from github_repository_info). */
const withFacts = (expr: string) => `${expr} * on (owner, repository) group_left (language, fork, archived) max by (owner, repository, language, fork, archived) (github_repository_info${repo})`

export function github() {
  const board = dashboard({
    uid: 'activity-github',
    title: 'GitHub',
    description: 'Every figure the github collector gathers from the GitHub API, per repository and per owner; the figures over time reach back to each repository\'s creation once its history is written.',
    tags: ['github'],
    time: 'now-5y',
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'owner', label: 'Owner', series: 'github_repository_info', description: 'GitHub organisations or users.' }))
    .withVariable(labelVariable({ name: 'repository', label: 'Repository', series: 'github_repository_info{owner=~"$owner"}', description: 'Repositories of the selected owners.' }))
    .annotation(releases(repo))

  board.withRow(new RowBuilder('Repositories'))
  const counts = [
    ['Stars', 'github_repository_stars'],
    ['Forks', 'github_repository_forks'],
    ['Watchers', 'github_repository_watchers'],
    ['Open issues', 'github_repository_open_issues'],
    ['Closed issues', 'github_repository_closed_issues'],
    ['Open PRs', 'github_repository_open_pull_requests'],
    ['Merged PRs', 'github_repository_merged_pull_requests'],
    ['Closed PRs (not merged)', 'github_repository_closed_pull_requests'],
    ['Releases', 'github_repository_releases'],
    ['Release downloads', 'github_repository_release_downloads'],
    ['Commits', 'github_repository_commits'],
  ] as const
  board.withPanel(
    queryTable({
      title: 'Repository figures',
      description: 'Every count the collector gathers, now, one row per repository. Commits are those of the default branch; release downloads sum the assets of the most recent releases (option `releases`, default 5).',
      h: 10,
      keep: ['owner', 'repository'],
      columns: counts.map(([title, metric]) => ({ title, unit: 'short', expr: perRepository(metric) })),
      sortBy: 'Stars',
    }),
  )
  board.withPanel(
    queryTable({
      title: 'Repository facts',
      description: 'Language, fork and archived flags (github_repository_info), when the repository was created, last pushed to and last released, and its size on GitHub.',
      h: 10,
      keep: ['owner', 'repository', 'language', 'fork', 'archived'],
      columns: [
        { title: 'Created', unit: 'dateTimeFromNow', expr: withFacts(`${perRepository('github_repository_created_timestamp_seconds')} * 1000`) },
        { title: 'Last push', unit: 'dateTimeFromNow', expr: withFacts(`${perRepository('github_repository_pushed_timestamp_seconds')} * 1000`) },
        { title: 'Latest release', unit: 'dateTimeFromNow', expr: withFacts(`${perRepository('github_repository_latest_release_timestamp_seconds')} * 1000`) },
        { title: 'Disk usage', unit: 'bytes', expr: withFacts(perRepository('github_repository_disk_usage_bytes')) },
      ],
      sortBy: 'Last push',
    }),
  )

  board.withPanel(
    queryTable({
      title: 'History written',
      description: 'Whether the history of each repository (stars, issues, pull requests, forks, releases and commits on every day since its creation) is written (1) or still being written by later history runs (0), and the rate-limit points it still needs.',
      h: 6,
      keep: ['owner', 'repository'],
      columns: [
        { title: 'History complete', mappings: historyWritten, steps: greenFrom(1), expr: perRepository('github_history_complete') },
        { title: 'Points still needed', unit: 'short', expr: perRepository('github_history_points_needed') },
      ],
      sortBy: 'Points still needed',
    }),
  )

  board.withRow(new RowBuilder('Owners'))
  const owner = '{owner=~"$owner"}'
  const ownerTotal = (title: string, metric: string, what: string) =>
    stat({
      title,
      description: `${what}, as GitHub reports it for the owner (only owners watched as a whole, e.g. target \`prometheus\`, have it).`,
      unit: 'short',
      w: 8,
      sparkline: true,
      targets: [prom(`max by (owner) (${metric}${owner})`, { legend: '{{owner}}' })],
    })
  board.withPanel(ownerTotal('Repositories per owner', 'github_owner_repositories', 'Public repositories of the owner'))
  board.withPanel(ownerTotal('Stars per owner', 'github_owner_stars', 'Stars of all repositories of the owner'))
  board.withPanel(ownerTotal('Forks per owner', 'github_owner_forks', 'Forks of all repositories of the owner'))

  const overTime = (title: string, metric: string, what: string, unit = 'short', w = 8) =>
    timeseries({
      title,
      description: `${what}, per repository, over time: since the repository's creation where its history is written (one point a day), then as collected.`,
      unit,
      w,
      targets: [prom(sinceCreation(metric), { legend: '{{owner}}/{{repository}}' })],
    })

  board.withRow(new RowBuilder('Popularity'))
  board.withPanel(overTime('Stars', 'github_repository_stars', 'Stars'))
  board.withPanel(overTime('Forks', 'github_repository_forks', 'Forks'))
  board.withPanel(overTime('Watchers', 'github_repository_watchers', 'Watchers (people subscribed to notifications)'))

  board.withRow(new RowBuilder('Issues and pull requests'))
  board.withPanel(overTime('Open issues', 'github_repository_open_issues', 'Open issues', 'short', 12))
  board.withPanel(overTime('Closed issues', 'github_repository_closed_issues', 'Closed issues (all time)', 'short', 12))
  board.withPanel(overTime('Open pull requests', 'github_repository_open_pull_requests', 'Open pull requests'))
  board.withPanel(overTime('Merged pull requests', 'github_repository_merged_pull_requests', 'Merged pull requests (all time)'))
  board.withPanel(overTime('Closed pull requests (not merged)', 'github_repository_closed_pull_requests', 'Pull requests closed without being merged (all time)'))

  board.withRow(new RowBuilder('Releases and code'))
  board.withPanel(overTime('Releases', 'github_repository_releases', 'Published releases'))
  board.withPanel(overTime('Release downloads', 'github_repository_release_downloads', 'Downloads of the assets of the most recent releases'))
  board.withPanel(overTime('Commits on the default branch', 'github_repository_commits', 'Commits on the default branch'))
  board.withPanel(overTime('Disk usage', 'github_repository_disk_usage_bytes', 'Size of the repository on GitHub', 'bytes'))
  board.withPanel(
    timeseries({
      title: 'Time since last push',
      description: 'How long ago each repository was last pushed to (github_repository_pushed_timestamp_seconds): a rising line is a quiet repository.',
      unit: 's',
      w: 8,
      targets: [prom(`time() - ${perRepository('github_repository_pushed_timestamp_seconds')}`, { legend: '{{owner}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Time since latest release',
      description: 'How long ago the latest release of each repository was published (github_repository_latest_release_timestamp_seconds).',
      unit: 's',
      w: 8,
      targets: [prom(`time() - ${perRepository('github_repository_latest_release_timestamp_seconds')}`, { legend: '{{owner}}/{{repository}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Repository age',
      description: 'Time since each repository was created (github_repository_created_timestamp_seconds).',
      unit: 's',
      w: 8,
      targets: [prom(`time() - ${perRepository('github_repository_created_timestamp_seconds')}`, { legend: '{{owner}}/{{repository}}' })],
    }),
  )

  return finish(board)
}

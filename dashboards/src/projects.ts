// Projects side by side: each project of activity.yml (projects:) with what all its sources say, one line per project.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { releases } from './annotations.ts'
import { dashboard, datasource, datasourceVariable, finish, labelVariable, prom, table, timeseries } from './common.ts'

const project = 'project=~"$project"'
/** One value per repository or package first (a repository collected by an owner and by itself counts once), then per project. */
const perProject = (metric: string, identity: string) => `sum by (project) (max by (project, ${identity}) (${metric}{${project}}))`
const movedPerProject = (metric: string, identity: string) => `sum by (project) (max by (project, ${identity}) (round(delta(${metric}{${project}}[$__range]))))`
const dailyPerProject = (metric: string, identity: string) => `sum by (project) (max by (project, ${identity}) (last_over_time(${metric}{${project}}[2d])))`

export function projects() {
  const board = dashboard({
    uid: 'activity-projects',
    title: 'Projects',
    description:
      'The projects of activity.yml (projects:) side by side: stars, contributors\u2019 activity, downloads and pulls of every source of a project, summed. A target in no project is its own project.',
    tags: ['projects'],
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'project', label: 'Project', series: 'activity_collector_last_run_timestamp_seconds', description: 'Projects, as activity.yml names them (several may be chosen).' }))
    // A release of a selected project's repositories often explains a step in its downloads.
    .annotation(releases('{project=~"$project"}'))

  board.withRow(new RowBuilder('Side by side'))
  board.withPanel(
    table({
      title: 'Projects',
      description:
        'One row per project: GitHub stars and forks now and the stars gained in the range, commits and merged pull requests in the range (contributors\u2019 activity), Docker Hub pulls now, and the last 30 days of npm and PyPI downloads.',
      h: 10,
      keep: ['project'],
      columns: [
        { title: 'Stars', unit: 'short' },
        { title: 'Stars gained', unit: 'short' },
        { title: 'Forks', unit: 'short' },
        { title: 'Commits in range', unit: 'short' },
        { title: 'PRs merged in range', unit: 'short' },
        { title: 'Docker Hub pulls', unit: 'short' },
        { title: 'npm, 30 days', unit: 'short' },
        { title: 'PyPI, 30 days', unit: 'short' },
        { title: 'crates.io, 90 days', unit: 'short' },
      ],
      sortBy: 'Stars',
      targets: [
        prom(perProject('github_repository_stars', 'owner, repository'), { instant: true, table: true }),
        prom(movedPerProject('github_repository_stars', 'owner, repository'), { instant: true, table: true }),
        prom(perProject('github_repository_forks', 'owner, repository'), { instant: true, table: true }),
        prom(movedPerProject('github_repository_commits', 'owner, repository'), { instant: true, table: true }),
        prom(movedPerProject('github_repository_merged_pull_requests', 'owner, repository'), { instant: true, table: true }),
        prom(perProject('dockerhub_repository_pulls', 'namespace, repository'), { instant: true, table: true }),
        prom(perProject('npm_package_downloads_last_month', 'package'), { instant: true, table: true }),
        prom(perProject('pypi_package_downloads_last_month', 'package'), { instant: true, table: true }),
        prom(perProject('crates_crate_recent_downloads', 'crate'), { instant: true, table: true }),
      ],
    }),
  )

  board.withRow(new RowBuilder('Over time'))
  board.withPanel(
    timeseries({
      title: 'Stars',
      description: 'GitHub stars of each project (its repositories summed) over time.',
      unit: 'short',
      targets: [prom(perProject('github_repository_stars', 'owner, repository'), { legend: '{{project}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Contributors\u2019 activity: commits per day',
      description: 'Commits on the default branches of each project in the 24 hours before each point (delta of github_repository_commits over 1d).',
      unit: 'short',
      targets: [prom(`sum by (project) (max by (project, owner, repository) (round(delta(github_repository_commits{${project}}[1d]))))`, { legend: '{{project}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Package downloads per day',
      description: 'Downloads per UTC day from npm, PyPI and crates.io, per project and registry (the daily history samples).',
      unit: 'short',
      targets: [
        prom(dailyPerProject('npm_package_daily_downloads', 'package'), { legend: '{{project}} npm' }),
        prom(dailyPerProject('pypi_package_daily_downloads', 'package'), { legend: '{{project}} PyPI' }),
        prom(dailyPerProject('crates_crate_daily_downloads', 'crate'), { legend: '{{project}} crates.io' }),
      ],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Pulls and release downloads per day',
      description: 'Docker Hub pulls and GitHub release downloads of each project in the 24 hours before each point (recording rules of stacks/metrics/rules.yml on the running totals; a day on which a total fell shows nothing).',
      unit: 'short',
      targets: [
        prom(perProject('dockerhub_repository_pulls:increase1d', 'namespace, repository'), { legend: '{{project}} Docker Hub pulls' }),
        prom(perProject('github_repository_release_downloads:increase1d', 'owner, repository'), { legend: '{{project}} release downloads' }),
      ],
    }),
  )
  return finish(board)
}

// Adoption: downloads from the package registries (npm, PyPI, crates.io) per day, per registry, package and version.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { releases } from './annotations.ts'
import { dashboard, datasource, datasourceVariable, finish, labelVariable, prom, queryTable, stat, timeseries } from './common.ts'

const npm = '{project=~"$project", package=~"$npm"}'
const pypi = '{project=~"$project", package=~"$pypi"}'
const crate = '{project=~"$project", crate=~"$crate"}'
/**
 * A daily sample (timestamped 00:00 UTC of its day) shown until the next one: the last within two days, since a
 * registry counts a day only after it ends (at noon today, yesterday's sample is 36 hours old).
 */
const daily = (metric: string, selector: string) => `last_over_time(${metric}${selector}[2d])`
/** Downloads in the 7 days before each point, and the change from the 7 days before those. */
const week = (metric: string, selector: string, offset = '') => `sum(sum_over_time(${metric}${selector}[7d]${offset}))`
const weekOverWeek = (metric: string, selector: string) => `${week(metric, selector)} / ${week(metric, selector, ' offset 7d')} - 1`
/** npm and PyPI publish the same counts of a package (last day, week, month, and the day counted last) under their own prefix. */
const packagesTable = (title: string, description: string, prefix: 'npm_package' | 'pypi_package', selector: string) =>
  queryTable({
    title,
    w: 12,
    description,
    keep: ['package'],
    columns: [
      { title: 'Last day', unit: 'short', expr: `max by (package) (${prefix}_downloads_last_day${selector})` },
      { title: 'Last 7 days', unit: 'short', expr: `max by (package) (${prefix}_downloads_last_week${selector})` },
      { title: 'Last 30 days', unit: 'short', expr: `max by (package) (${prefix}_downloads_last_month${selector})` },
      { title: 'Counted up to', unit: 'dateTimeFromNow', expr: `max by (package) (${prefix}_last_counted_day_timestamp_seconds${selector}) * 1000` },
    ],
    sortBy: 'Last 30 days',
  })

export function adoption() {
  const board = dashboard({
    uid: 'activity-adoption',
    title: 'Adoption',
    description: 'Downloads from the package registries the platform reads: npm, PyPI (pypistats.org, mirrors excluded) and crates.io, per day (with their history), per package and per version.',
    tags: ['adoption', 'npm', 'pypi', 'crates'],
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'project', label: 'Project', series: 'activity_collector_last_run_timestamp_seconds', description: 'Projects, as activity.yml names them (several may be chosen).' }))
    .withVariable(labelVariable({ name: 'npm', label: 'npm package', series: 'npm_package_downloads_last_day{project=~"$project"}', labelName: 'package', description: 'npm packages of the selected projects.' }))
    .withVariable(labelVariable({ name: 'pypi', label: 'PyPI package', series: 'pypi_package_downloads_last_day{project=~"$project"}', labelName: 'package', description: 'PyPI packages of the selected projects.' }))
    .withVariable(labelVariable({ name: 'crate', label: 'Crate', series: 'crates_crate_downloads{project=~"$project"}', description: 'Crates of the selected projects.' }))
    // A release of a selected project's repositories often explains a step in its downloads.
    .annotation(releases('{project=~"$project"}'))

  board.withRow(new RowBuilder('Per registry'))
  board.withPanel(
    timeseries({
      title: 'Downloads per day, per registry',
      description:
        'Downloads of the selected packages on each UTC day, stacked by registry: the days the registries give back (npm since 2015, pypistats 180 days, crates.io 90 days) and every day the platform has kept since; with Docker Hub pulls and GitHub release downloads of the 24 hours before each point, from the recording rules on their running totals (a day on which a total fell shows nothing).',
      unit: 'short',
      w: 24,
      stacking: 'normal',
      targets: [
        prom(`sum(${daily('npm_package_daily_downloads', npm)})`, { legend: 'npm' }),
        prom(`sum(${daily('pypi_package_daily_downloads', pypi)})`, { legend: 'PyPI' }),
        prom(`sum(${daily('crates_crate_daily_downloads', crate)})`, { legend: 'crates.io' }),
        // Recording rules of the metrics Prometheus (stacks/metrics/rules.yml): the running totals less a day earlier.
        prom('sum(max by (namespace, repository) (dockerhub_repository_pulls:increase1d{project=~"$project"}))', { legend: 'Docker Hub pulls' }),
        prom('sum(max by (owner, repository) (github_repository_release_downloads:increase1d{project=~"$project"}))', { legend: 'GitHub release downloads' }),
      ],
    }),
  )
  board.withPanel(
    stat({
      title: 'Last 7 days',
      description: 'Downloads in the last 7 days each registry has counted (npm_package_downloads_last_week, pypi_package_downloads_last_week), and crates.io downloads in its last 90 days.',
      unit: 'short',
      w: 12,
      targets: [
        prom(`sum(npm_package_downloads_last_week${npm})`, { instant: true, legend: 'npm, 7 days' }),
        prom(`sum(pypi_package_downloads_last_week${pypi})`, { instant: true, legend: 'PyPI, 7 days' }),
        prom(`sum(crates_crate_recent_downloads${crate})`, { instant: true, legend: 'crates.io, 90 days' }),
      ],
    }),
  )
  board.withPanel(
    stat({
      title: 'Week over week',
      description: 'Downloads of the last 7 days against the 7 days before them, per registry (from the daily history): +10% means a tenth more.',
      unit: 'percentunit',
      w: 12,
      targets: [
        prom(weekOverWeek('npm_package_daily_downloads', npm), { instant: true, legend: 'npm' }),
        prom(weekOverWeek('pypi_package_daily_downloads', pypi), { instant: true, legend: 'PyPI' }),
        prom(weekOverWeek('crates_crate_daily_downloads', crate), { instant: true, legend: 'crates.io' }),
      ],
    }),
  )

  board.withRow(new RowBuilder('npm'))
  board.withPanel(
    timeseries({
      title: 'npm downloads per day, per package',
      description: 'Downloads of each selected npm package per UTC day (npm_package_daily_downloads), stacked.',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`max by (package) (${daily('npm_package_daily_downloads', npm)})`, { legend: '{{package}}' })],
    }),
  )
  board.withPanel(
    packagesTable(
      'npm packages',
      'Per package: downloads on the last day npm counted, in its last 7 and 30 days, and which day npm counted last (npm publishes a UTC day soon after midnight).',
      'npm_package',
      npm,
    ),
  )

  board.withRow(new RowBuilder('PyPI'))
  board.withPanel(
    timeseries({
      title: 'PyPI downloads per day, per package',
      description: 'Downloads of each selected PyPI package per UTC day, known mirrors excluded (pypi_package_daily_downloads), stacked.',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`max by (package) (${daily('pypi_package_daily_downloads', pypi)})`, { legend: '{{package}}' })],
    }),
  )
  board.withPanel(
    packagesTable(
      'PyPI packages',
      'Per package: downloads on the last day pypistats.org counted, in its last 7 and 30 days (mirrors excluded), and which day it counted last.',
      'pypi_package',
      pypi,
    ),
  )
  board.withPanel(
    timeseries({
      title: 'PyPI downloads per day, by Python version',
      description: 'Downloads of the selected PyPI packages per UTC day by Python minor version (unknown: the installer did not say), stacked.',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`sum by (python) (${daily('pypi_package_daily_downloads_by_python', pypi)})`, { legend: '{{python}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'PyPI downloads per day, by system',
      description: 'Downloads of the selected PyPI packages per UTC day by operating system, stacked.',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`sum by (system) (${daily('pypi_package_daily_downloads_by_system', pypi)})`, { legend: '{{system}}' })],
    }),
  )

  board.withRow(new RowBuilder('crates.io'))
  board.withPanel(
    timeseries({
      title: 'crates.io downloads per day, by version',
      description: 'Downloads of the selected crates per UTC day by version, stacked (crates_version_daily_downloads; other = the versions crates.io does not list one by one).',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`sum by (crate, version) (${daily('crates_version_daily_downloads', crate)})`, { legend: '{{crate}} {{version}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'crates.io downloads per day, per crate',
      description: 'Downloads of each selected crate per UTC day, all versions (crates_crate_daily_downloads), stacked.',
      unit: 'short',
      stacking: 'normal',
      targets: [prom(`max by (crate) (${daily('crates_crate_daily_downloads', crate)})`, { legend: '{{crate}}' })],
    }),
  )
  board.withPanel(
    queryTable({
      title: 'Crates',
      description: 'Per crate: downloads since it was published and in the last 90 days, as crates.io counts them.',
      keep: ['crate'],
      columns: [
        { title: 'Downloads', unit: 'short', expr: `max by (crate) (crates_crate_downloads${crate})` },
        { title: 'Last 90 days', unit: 'short', expr: `max by (crate) (crates_crate_recent_downloads${crate})` },
      ],
      sortBy: 'Downloads',
    }),
  )
  board.withPanel(
    queryTable({
      title: 'Crate versions',
      description: 'Per crate and version: downloads since the version was published (crates_version_downloads).',
      keep: ['crate', 'version'],
      columns: [{ title: 'Downloads', unit: 'short', expr: `max by (crate, version) (crates_version_downloads${crate})` }],
      sortBy: 'Downloads',
    }),
  )
  return finish(board)
}

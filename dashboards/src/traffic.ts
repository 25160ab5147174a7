// GitHub traffic: views and clones per day, kept past GitHub's 14 days, and where visitors come from (referrers, pages).
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { bars, dashboard, datasource, datasourceVariable, finish, labelVariable, prom, queryTable, stat, timeseries } from './common.ts'
import { releases } from './annotations.ts'

const repo = '{owner=~"$owner", repository=~"$repository"}'
/**
 * History panels draw one bar a day: each day's sample sits at its 00:00 UTC, and a step of at least a day sums the
 * days of each step (Grafana aligns steps to multiples of the interval, so a 1-day step lands on UTC midnights).
 */
export const perDay = '1d'
const daily = (metric: string) => `sum by (owner, repository) (sum_over_time(${metric}${repo}[$__interval]))`

export function traffic() {
  const board = dashboard({
    uid: 'activity-github-traffic',
    title: 'GitHub traffic',
    description: 'Views and clones of the repositories the token may push to, per day and for good (GitHub keeps 14 days), and the referrers and pages of the last 14 days.',
    tags: ['github', 'traffic'],
    time: 'now-90d',
  })
    .withVariable(datasourceVariable(datasource.prometheus))
    .withVariable(labelVariable({ name: 'owner', label: 'Owner', series: 'github_repository_info', description: 'GitHub organisations or users.' }))
    .withVariable(labelVariable({ name: 'repository', label: 'Repository', series: 'github_repository_info{owner=~"$owner"}', description: 'Repositories of the selected owners.' }))
    .annotation(releases(repo))

  const total = (title: string, metric: string, what: string) =>
    stat({ title, description: `${what} on the days in the dashboard's range, all selected repositories together.`, unit: 'short', w: 6, targets: [prom(`sum(sum_over_time(${metric}${repo}[$__range]))`, { instant: true, legend: title })] }).interval(perDay)
  board.withRow(new RowBuilder('Views and clones per day'))
  board.withPanel(total('Views', 'github_repository_traffic_views', 'Views of the repositories\' pages on github.com'))
  board.withPanel(total('Clones', 'github_repository_traffic_clones', 'Clones'))
  board.withPanel(
    stat({
      title: 'Days kept',
      description: 'Days of traffic the platform holds for the repository that has the most, within the range: GitHub keeps 14, the platform keeps each day it collected.',
      unit: 'short',
      w: 6,
      targets: [prom(`max(count_over_time(github_repository_traffic_views${repo}[$__range]))`, { instant: true, legend: 'days' })],
    }).interval(perDay),
  )
  board.withPanel(
    stat({
      title: 'Repositories with traffic',
      description: 'Repositories whose traffic the token may read (push access, or Administration: read for a fine-grained token) and that have at least one day in the range.',
      unit: 'short',
      w: 6,
      targets: [prom(`count(max by (owner, repository) (last_over_time(github_repository_traffic_views${repo}[$__range])))`, { instant: true, legend: 'repositories' })],
    }).interval(perDay),
  )
  const perDayPanel = (title: string, metric: string, what: string) =>
    timeseries({
      title,
      description: `${what} per UTC day, per repository: one bar a day (on long ranges a bar sums the days it covers). A day is written once it has been over for 3 hours.`,
      unit: 'short',
      bars: true,
      stacking: 'normal',
      targets: [prom(daily(metric), { legend: '{{owner}}/{{repository}}' })],
    }).interval(perDay)
  board.withPanel(perDayPanel('Views per day', 'github_repository_traffic_views', "Views of the repository's pages"))
  board.withPanel(perDayPanel('Unique visitors per day', 'github_repository_traffic_unique_visitors', 'Distinct visitors (each day counted on its own: a person who comes back on two days counts twice)'))
  board.withPanel(perDayPanel('Clones per day', 'github_repository_traffic_clones', 'Clones (CI checkouts included: GitHub counts every git clone)'))
  board.withPanel(perDayPanel('Unique cloners per day', 'github_repository_traffic_unique_cloners', 'Distinct cloners'))

  board.withRow(new RowBuilder('Where visitors come from (last 14 days)'))
  board.withPanel(
    bars({
      title: 'Top referrers',
      description: "Sites that sent visitors, views over GitHub's last 14 days, the selected repositories together (GitHub names its top 10 per repository).",
      unit: 'short',
      targets: [prom(`topk(10, sum by (referrer) (github_repository_traffic_referrer_views${repo}))`, { instant: true, legend: '{{referrer}}' })],
    }),
  )
  board.withPanel(
    bars({
      title: 'Most viewed pages',
      description: "Pages of the repositories on github.com, views over GitHub's last 14 days (its top 10 per repository).",
      unit: 'short',
      targets: [prom(`topk(10, max by (owner, repository, path) (github_repository_traffic_path_views${repo}))`, { instant: true, legend: '{{path}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Referrer views, 14-day window',
      description: "How each referrer's 14-day views move over time (each point is GitHub's total of the 14 days before it).",
      unit: 'short',
      w: 8,
      h: 9,
      targets: [prom(`sum by (referrer) (github_repository_traffic_referrer_views${repo})`, { legend: '{{referrer}}' })],
    }),
  )
  /** GitHub's top 10 referrers and top 10 pages come as the same two counts, views and unique visitors, labelled by what they rank. */
  const topTenPerRepository = (title: string, things: string, label: 'referrer' | 'path') =>
    queryTable({
      title,
      description: `GitHub's top 10 ${things} of each repository over the last 14 days: views and distinct visitors.`,
      h: 10,
      w: 12,
      keep: ['owner', 'repository', label],
      columns: [
        { title: 'Views', unit: 'short', expr: `max by (owner, repository, ${label}) (github_repository_traffic_${label}_views${repo})` },
        { title: 'Unique visitors', unit: 'short', expr: `max by (owner, repository, ${label}) (github_repository_traffic_${label}_unique_visitors${repo})` },
      ],
      sortBy: 'Views',
    })
  board.withPanel(topTenPerRepository('Referrers per repository', 'referrers', 'referrer'))
  board.withPanel(topTenPerRepository('Popular pages per repository', 'pages', 'path'))
  return finish(board)
}

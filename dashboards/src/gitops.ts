// GitOps: which commit each stack runs, when it was last deployed and whether that worked.
import { MappingType, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard'
import { dashboard, datasource, datasourceVariable, finish, greenFrom, labelVariable, okFailed, prom, redFrom, stat, states, table, timeseries } from './common.ts'

/** Said on every panel: the metrics are the gitops service's, so a platform without it shows none. */
const pending = 'The gitops service exposes these metrics (scraped by the monitoring Prometheus); until it runs, this panel shows no data.'
const stacks = '{stack=~"$stack"}'
const perStack = (metric: string) => `max by (stack) (${metric}${stacks})`
/** A per-stack value with the deployed commit as a label (from activity_gitops_deployed_commit_info). */
const withCommit = (expr: string) => `${expr} * on (stack) group_left (commit) max by (stack, commit) (activity_gitops_deployed_commit_info${stacks})`

export function gitops() {
  const board = dashboard({
    uid: 'activity-gitops',
    title: 'GitOps',
    description: 'Deployments made by the gitops service: the commit each stack runs, when it was deployed, the result and how long it took.',
    tags: ['platform', 'gitops'],
    time: 'now-7d',
  })
    .withVariable(datasourceVariable(datasource.monitoring))
    .withVariable(labelVariable({ name: 'stack', label: 'Stack', series: 'activity_gitops_last_deploy_timestamp_seconds', description: 'Swarm stacks the gitops service deploys.' }))

  board.withRow(new RowBuilder('Deployed now'))
  board.withPanel(
    table({
      title: 'Stacks',
      description: `One row per stack: the commit it runs (activity_gitops_deployed_commit_info), when it was last deployed, whether that deployment succeeded, and how long it took. ${pending}`,
      w: 16,
      keep: ['stack', 'commit'],
      columns: [{ title: 'Last deploy', unit: 'dateTimeFromNow' }, { title: 'Result', mappings: okFailed }, { title: 'Duration', unit: 's' }],
      sortBy: 'Last deploy',
      targets: [
        prom(withCommit(`${perStack('activity_gitops_last_deploy_timestamp_seconds')} * 1000`), { instant: true, table: true }),
        prom(withCommit(perStack('activity_gitops_last_deploy_success')), { instant: true, table: true }),
        prom(withCommit(perStack('activity_gitops_deploy_duration_seconds')), { instant: true, table: true }),
      ],
    }),
  )
  board.withPanel(
    stat({
      title: 'Failed deployments',
      description: `Stacks whose last deployment failed (activity_gitops_last_deploy_success == 0): they still run their previous commit. ${pending}`,
      unit: 'short',
      w: 8,
      h: 8,
      steps: redFrom(1),
      colorBy: 'background',
      targets: [prom(`count(${perStack('activity_gitops_last_deploy_success')} == 0) or vector(0)`, { instant: true, legend: 'failed' })],
    }),
  )

  board.withPanel(
    table({
      title: 'Deployments (the ledger)',
      description: `The newest 20 entries of the deploy ledger, one row per deployment attempt: its id, commit, what started it (push, webhook, poll, retry, restart, rollback, unpin, up), its result (succeeded, failed, rolled back by Swarm, refused by validation; running while it runs) and the stacks it deployed (activity_gitops_deployment_info). activity deploys lists every entry with its reason. ${pending}`,
      w: 16,
      keep: ['id', 'commit', 'trigger', 'result', 'stacks'],
      columns: [{ title: 'Ended', unit: 'dateTimeFromNow' }],
      sortBy: 'Ended',
      targets: [prom('max by (id, commit, trigger, result, stacks) (activity_gitops_deployment_info) * 1000', { instant: true, table: true })],
    }),
  )
  board.withPanel(
    stat({
      title: 'Pinned by a rollback',
      description: `Since when activity rollback pins the platform to an earlier deployment (activity_gitops_pinned_timestamp_seconds): gitops deploys nothing until a newer commit, or activity rollback --unpin. ${pending}`,
      unit: 'dateTimeFromNow',
      w: 8,
      h: 9,
      colorBy: 'background',
      steps: redFrom(1),
      mappings: [{ type: MappingType.ValueToText, options: { '0': { text: 'not pinned', color: 'green', index: 0 } } }],
      targets: [prom('max(activity_gitops_pinned_timestamp_seconds) * 1000', { instant: true, legend: 'pinned since' })],
    }),
  )

  board.withRow(new RowBuilder('Over time'))
  board.withPanel(
    states({
      title: 'Deployment results',
      description: `The result of the last deployment of each stack over time (activity_gitops_last_deploy_success). ${pending}`,
      mappings: okFailed,
      steps: greenFrom(1),
      targets: [prom(perStack('activity_gitops_last_deploy_success'), { legend: '{{stack}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Deployment attempts',
      description: `Attempts to deploy a commit, by result and by whether it was the first or gitops trying a failed commit again on its backoff (activity_gitops_deploy_attempts_total); failed retries mean the platform has not converged on the last commit. ${pending}`,
      unit: 'short',
      bars: true,
      targets: [prom('sum by (result, attempt) (increase(activity_gitops_deploy_attempts_total[$__rate_interval]))', { legend: '{{result}} ({{attempt}})' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Deployment duration',
      description: `How long the last deployment of each stack took (activity_gitops_deploy_duration_seconds). ${pending}`,
      unit: 's',
      targets: [prom(perStack('activity_gitops_deploy_duration_seconds'), { legend: '{{stack}}' })],
    }),
  )
  board.withPanel(
    timeseries({
      title: 'Time since last deployment',
      description: `How long ago each stack was last deployed (activity_gitops_last_deploy_timestamp_seconds). ${pending}`,
      unit: 's',
      targets: [prom(`time() - ${perStack('activity_gitops_last_deploy_timestamp_seconds')}`, { legend: '{{stack}}' })],
    }),
  )
  return finish(board)
}

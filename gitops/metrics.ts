// What the gitops service reports on /metrics: deployments per stack, webhook requests, scheduled job runs.
import { Counter, Gauge, type Registry } from 'prom-client'
import { ledgerResult } from './attempts.ts'
import type { DeployEvents } from './deployer.ts'
import type { LedgerEntry } from './ledger.ts'
import type { DeployState, Pin } from './state.ts'

/** Entries of the ledger shown as activity_gitops_deployment_info (the GitOps dashboard's table); the rest: activity deploys. */
export const shownEntries = 20

/** The values of activity_gitops_last_deploy_result's result label, one per ledger result. */
export const resultLabels = { succeeded: 'succeeded', failed: 'failed', 'rolled back by Swarm': 'rolled_back', 'refused by validation': 'refused' } as const

export type GitopsMetrics = ReturnType<typeof metricsFor>

export function metricsFor(registry: Registry) {
  return {
    deployedCommit: new Gauge({ name: 'activity_gitops_deployed_commit_info', help: 'Commit deployed for each stack (value 1; the commit is a label).', labelNames: ['stack', 'commit'], registers: [registry] }),
    lastDeploy: new Gauge({ name: 'activity_gitops_last_deploy_timestamp_seconds', help: 'Unix time of the last deployment attempt of each stack.', labelNames: ['stack'], registers: [registry] }),
    lastSuccess: new Gauge({ name: 'activity_gitops_last_deploy_success', help: '1 if the last deployment of the stack succeeded, 0 if it failed.', labelNames: ['stack'], registers: [registry] }),
    duration: new Gauge({ name: 'activity_gitops_deploy_duration_seconds', help: 'Duration of the last deployment of each stack, in seconds.', labelNames: ['stack'], registers: [registry] }),
    deployments: new Counter({ name: 'activity_gitops_deployments_total', help: 'Deployment runs, by outcome (deployed, unchanged, invalid, failed; superseded: replaced by a newer commit before it ran); each retry of a failed commit is one more run.', labelNames: ['outcome'], registers: [registry] }),
    attempts: new Counter({ name: 'activity_gitops_deploy_attempts_total', help: 'Attempts to deploy a commit that had stacks to deploy, by result (deployed, failed) and attempt (first, retry: gitops trying a failed commit again).', labelNames: ['result', 'attempt'], registers: [registry] }),
    failedAttempts: new Gauge({ name: 'activity_gitops_failed_attempts', help: 'Failed attempts in a row at the commit gitops is converging on; 0 once a deployment succeeds.', registers: [registry] }),
    invalid: new Counter({ name: 'activity_gitops_validation_failures_total', help: 'Commits refused because they failed validation.', registers: [registry] }),
    webhooks: new Counter({ name: 'activity_gitops_webhook_requests_total', help: 'Webhook requests, by result (accepted, ping, ignored, refused; no-remote: a valid push gitops cannot fetch, GITOPS_REMOTE_URL_FILE being unset).', labelNames: ['result'], registers: [registry] }),
    lastResult: new Gauge({ name: 'activity_gitops_last_deploy_result', help: 'The result of the last deployment attempt that ended: 1 for its result (succeeded, failed, rolled_back: Swarm rolled the update back, refused: validation refused the commit), 0 for the others.', labelNames: ['result'], registers: [registry] }),
    pinned: new Gauge({ name: 'activity_gitops_pinned', help: '1 while activity rollback pins the platform to an earlier deployment (gitops deploys nothing until a newer commit or an unpin), else 0.', registers: [registry] }),
    pinnedSince: new Gauge({ name: 'activity_gitops_pinned_timestamp_seconds', help: 'Unix time the platform was pinned by activity rollback; 0 when it is not pinned.', registers: [registry] }),
    deployment: new Gauge({ name: 'activity_gitops_deployment_info', help: `The deploy ledger's newest ${shownEntries} entries, one series each (id, commit, trigger, result, stacks); the value is when the attempt ended (Unix seconds), 0 while it runs. activity deploys lists them all.`, labelNames: ['id', 'commit', 'trigger', 'result', 'stacks'], registers: [registry] }),
    jobs: new Counter({ name: 'activity_gitops_job_runs_total', help: 'Scheduled collector job runs, by service and result (started, skipped-running, failed).', labelNames: ['service', 'result'], registers: [registry] }),
  }
}

/** One deployed-commit series per stack the deploy state names. */
export function showDeployedCommits(metrics: GitopsMetrics, state: DeployState): void {
  for (const [stack, deployed] of Object.entries(state.stacks)) metrics.deployedCommit.set({ stack, commit: deployed!.commit }, 1)
}

/** What the deploy state says when the service starts: the commits that run, stacks whose last deployment failed, failures in a row. */
export function showState(metrics: GitopsMetrics, state: DeployState): void {
  showDeployedCommits(metrics, state)
  for (const stack of Object.keys(state.failed ?? {})) metrics.lastSuccess.set({ stack }, 0)
  metrics.failedAttempts.set(state.retry?.attempts ?? 0)
}

/** A commit refused by validation (by the pre-receive hook or by a deployment). */
export function countInvalid(metrics: GitopsMetrics): void {
  metrics.invalid.inc()
  metrics.deployments.inc({ outcome: 'invalid' })
  showLastResult(metrics, 'refused')
}

/** The last attempt's result as a 1 among 0s, so that an alert reads `activity_gitops_last_deploy_result{result="rolled_back"} == 1`. */
export function showLastResult(metrics: GitopsMetrics, result: (typeof resultLabels)[keyof typeof resultLabels]): void {
  for (const label of Object.values(resultLabels)) metrics.lastResult.set({ result: label }, label === result ? 1 : 0)
}

/** The newest ledger entries as series of activity_gitops_deployment_info; older ones leave the exposition. */
export function showLedger(metrics: GitopsMetrics, entries: LedgerEntry[]): void {
  metrics.deployment.reset()
  for (const e of entries.slice(-shownEntries)) {
    metrics.deployment.set({ id: String(e.id), commit: e.commit.slice(0, 12), trigger: e.trigger, result: e.result, stacks: e.stacks.join(',') }, e.endedAt ? Date.parse(e.endedAt) / 1000 : 0)
  }
}

export function showPin(metrics: GitopsMetrics, pin: Pin | undefined): void {
  metrics.pinned.set(pin ? 1 : 0)
  metrics.pinnedSince.set(pin ? Date.parse(pin.since) / 1000 : 0)
}

/**
 * The deployer's events as metrics; `readState` is the deploy state as the deployer just wrote it, and `afterResult`
 * runs once each commit is handled (the service resynchronises the scheduler when the collectors stack changed).
 */
export function deployMetrics(metrics: GitopsMetrics, readState: () => DeployState, afterResult: DeployEvents['onResult'] = () => {}): DeployEvents {
  return {
    onStackDeployed(stack, commit, ok, seconds) {
      metrics.lastDeploy.set({ stack }, Date.now() / 1000)
      metrics.lastSuccess.set({ stack }, ok ? 1 : 0)
      metrics.duration.set({ stack }, seconds)
      if (ok) {
        metrics.deployedCommit.reset()
        showDeployedCommits(metrics, readState())
        metrics.deployedCommit.set({ stack, commit }, 1)
      }
    },
    onResult(result) {
      metrics.deployments.inc({ outcome: result.outcome })
      if (['deployed', 'unchanged', 'invalid', 'failed'].includes(result.outcome)) showLastResult(metrics, resultLabels[ledgerResult(result) as keyof typeof resultLabels])
      if (result.outcome === 'invalid') metrics.invalid.inc()
      if (result.outcome === 'deployed' || result.outcome === 'failed') {
        metrics.attempts.inc({ result: result.outcome, attempt: result.attempt > 1 ? 'retry' : 'first' })
        metrics.failedAttempts.set(result.outcome === 'failed' ? result.attempt : 0)
      }
      if (result.outcome === 'unchanged') metrics.failedAttempts.set(0)
      afterResult?.(result)
    },
  }
}

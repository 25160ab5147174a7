// What the gitops service reports on /metrics: deployments per stack, webhook requests, scheduled job runs.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { DeployEvents } from './deployer.ts'
import type { DeployState } from './state.ts'

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

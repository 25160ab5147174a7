#!/usr/bin/env -S npx tsx
// `npm run status`: the platform's stacks, services and replicas, the collector jobs' last runs with exit codes, and their health in Prometheus.
import { deployOrder } from '../stacks/stacks.ts'
import { describe, serviceStates, type ServiceState } from '../stacks/deploy/converge.ts'
import { deployedStacks, stackServices } from '../stacks/deploy/deploy.ts'
import { engineInfo } from '../stacks/deploy/docker.ts'
import { pinInSwarm } from '../gitops/pin.ts'
import { StepError } from '../collectors/runtime/errors.ts'
import { createOutput, runScript, type Output } from './lib/output.ts'
import { lastLogLines, pushedTargets, type PushedTarget } from './lib/results.ts'

export interface StatusResult {
  states: ServiceState[]
  healthy: boolean
}

function ago(timestamp: string | undefined): string {
  if (!timestamp) return ''
  const s = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000))
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}

/** Whether the Pushgateway holds a collect run of the target (a target may have only its history run so far). */
const collectSeen = (t: PushedTarget) => t.lastRunAt !== undefined || t.lastSuccessAt !== undefined || !t.history

/** A history run's line: when it ran, what it wrote, and (after a failure) when it last succeeded. */
function historyDetail(history: NonNullable<PushedTarget['history']>): string {
  const run = history.lastRunAt ? `history run ${ago(new Date(history.lastRunAt * 1000).toISOString())}` : 'no history run recorded'
  const written = `${history.samplesWritten ?? 0} samples written`
  if (history.lastRunOk) return `${run}, ${written}`
  const success = history.lastSuccessAt ? `last success ${ago(new Date(history.lastSuccessAt * 1000).toISOString())}` : 'never succeeded'
  return `${run} FAILED (${written}, kept; the next run continues); ${success}`
}

export async function status(out: Output): Promise<StatusResult> {
  const info = await engineInfo()
  if (!info) throw new StepError('engine', 'no Docker Engine answers', 'start it, or point DOCKER_HOST at the one that runs the platform')
  out.line(`engine   Docker ${info.serverVersion}, swarm ${info.swarmState}${info.swarmManager ? ' (manager)' : ''}`)
  if (info.swarmState !== 'active') {
    out.line('the platform is not up: npm run up starts it')
    return { states: [], healthy: false }
  }
  const present = await deployedStacks()
  if (!present.length) {
    out.line('no stack of the platform is deployed: npm run up starts it')
    return { states: [], healthy: false }
  }
  const pin = await pinInSwarm().catch(() => undefined)
  if (pin) out.line(`gitops   pinned by activity rollback to ${pin.commit.slice(0, 7)} (ledger entry ${pin.entry}) since ${pin.since}: new commits are deployed, the branch head ${pin.head?.slice(0, 7) ?? ''} is not; activity rollback --unpin resumes`)
  const states: ServiceState[] = []
  for (const stack of deployOrder.filter((s) => present.includes(s))) {
    const stackStates = await serviceStates(await stackServices(stack))
    states.push(...stackStates)
    out.line()
    out.line(`stack ${stack}`)
    for (const state of stackStates) {
      const mark = state.failed ? 'FAIL' : state.ready ? 'ok  ' : '... '
      let line = `  ${mark} ${state.name.padEnd(28)} ${state.kind.padEnd(10)} ${describe(state)}`
      if (state.kind === 'job') line += state.finishedAt ? `, last run finished ${ago(state.finishedAt)}` : ', running'
      if (state.problem && !state.ready) line += `: ${state.problem}`
      out.line(line)
      if (state.kind === 'job' && state.failed) for (const log of await lastLogLines(state.telling ?? state.name, 2)) out.line(`         ${log}`)
    }
  }

  const pushed = present.includes('metrics') ? await pushedTargets('metrics_pushgateway') : undefined
  if (pushed?.length) {
    out.line()
    out.line('collectors (each target as the Pushgateway holds it)')
    for (const t of pushed) {
      const run = t.lastRunAt ? `last run ${ago(new Date(t.lastRunAt * 1000).toISOString())}` : 'no run recorded'
      const success = t.lastSuccessAt ? `last success ${ago(new Date(t.lastSuccessAt * 1000).toISOString())}` : 'never succeeded'
      const detail = t.lastRunOk ? `${run}, ${t.samples ?? 0} samples` : `${run} FAILED; ${success}${t.lastSuccessAt ? ' (its values stay)' : ''}`
      if (collectSeen(t)) out.line(`  ${t.lastRunOk ? 'ok  ' : 'FAIL'} ${t.source.padEnd(10)} ${t.target.padEnd(30)} ${detail}`)
      if (t.history) out.line(`  ${t.history.lastRunOk ? 'ok  ' : 'FAIL'} ${'history'.padEnd(10)} ${t.target.padEnd(30)} ${historyDetail(t.history)}`)
    }
  }
  const unhealthy = states.filter((s) => !s.ready)
  const failedTargets = (pushed ?? []).filter((t) => (collectSeen(t) && !t.lastRunOk) || (t.history && !t.history.lastRunOk))
  out.line()
  out.line(unhealthy.length || failedTargets.length ? `status: ${unhealthy.length} service${unhealthy.length === 1 ? '' : 's'} not ready or failed, ${failedTargets.length} collector target${failedTargets.length === 1 ? '' : 's'} failing` : `status: all ${states.length} services ready`)
  return { states, healthy: !unhealthy.length && !failedTargets.length }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runScript('status', async () => ((await status(createOutput(0))).healthy ? 0 : 1))
}

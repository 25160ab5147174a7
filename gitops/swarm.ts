// The real world of gitops: validation with `activity validate`, images built from their Dockerfiles, stacks deployed
// through the same path as `npm run up`, and collector jobs re-run with `docker service update --force`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../collectors/runtime/config.ts'
import type { AnyCollector } from '../collectors/runtime/define.ts'
import type { Logger } from '../collectors/runtime/log.ts'
import { deployedState, deployStack, externalNeeds, isUnchanged, removeStack } from '../scripts/lib/deploy.ts'
import { defaultProfile, readProfile, resolveForDeploy } from '../scripts/lib/profile.ts'
import { docker, jsonLines } from '../scripts/lib/docker.ts'
import { activityTag, buildImage, imageName } from '../scripts/lib/images.ts'
import { runLogsSetup } from '../scripts/lib/logs.ts'
import { ensureNetworks, existingSecrets, networkNames } from '../scripts/lib/swarm.ts'
import { formatProblem, validate } from '../stacks/validate.ts'
import type { DeploySteps } from './deployer.ts'
import { pruneGroups } from './prune.ts'
import { scheduleLabel, type JobRunner, type ScheduledJob } from './scheduler.ts'

export interface SwarmStepsOptions {
  registry: string
  /** The collectors this build has: activity.yml is checked against them. */
  collectors: Map<string, AnyCollector>
  env: Record<string, string | undefined>
  /** Where the collectors push: groups of sources and targets no longer configured are removed there. */
  pushgateway?: string
  log: Logger
}

export function swarmSteps(options: SwarmStepsOptions): DeploySteps {
  // How `up` deployed this swarm (overlays, services left out, collector settings, build base): deployed the same way.
  const profile = async () => (await readProfile()) ?? defaultProfile(options.registry)
  return {
    async validate(dir) {
      const report = await validate({ root: dir, collectors: options.collectors, env: options.env as NodeJS.ProcessEnv })
      return report.problems.map(formatProblem)
    },
    async buildImage(dir, image, _fingerprint, report) {
      const [tag, { registry, nodeImage, npmExtraCaPem }] = await Promise.all([activityTag(dir), profile()])
      const result = await buildImage(image, { root: dir, registry, tag, nodeImage, npmExtraCaPem: npmExtraCaPem ?? '', env: options.env, progress: report })
      report(`image ${image}:${tag} ${result}`)
    },
    async deployStack(dir, stack, report) {
      const config = loadConfig(join(dir, 'activity.yml'), options.collectors)
      const work = mkdtempSync(join(tmpdir(), `activity-gitops-${stack}-`))
      try {
        const resolved = await resolveForDeploy(stack, { root: dir, config, profile: await profile(), tag: await activityTag(dir), workDir: work })
        const deployed = await deployedState()
        if (!resolved.services.length) {
          // Every service of it is left out on this swarm (up --without).
          if (deployed.services.has(stack)) {
            await removeStack(stack)
            report(`${stack}: removed (every service of it is left out here)`)
          } else report(`${stack}: not deployed (every service of it is left out here)`)
          return
        }
        if (stack === 'logs' && resolved.services.includes('elasticsearch')) {
          // Its settings (logs.retention) may be all that changed: the setup runs on every deployment of logs.
          const current = await profile()
          setUpLogs(imageName(current.registry, 'gitops', await activityTag(dir)), readFileSync(join(dir, 'activity.yml'), 'utf8'), report, options.log)
        }
        if (isUnchanged(resolved, deployed)) {
          // The swarm runs exactly this already (deployed by up, or by gitops before a lost state): nothing restarts.
          report(`${stack}: unchanged, the swarm already runs it`)
          return
        }
        const needs = externalNeeds(resolved)
        const created = await ensureNetworks(needs.networks, await networkNames())
        if (created.length) report(`created networks ${created.join(', ')}`)
        const secrets = await existingSecrets()
        const missing = needs.secrets.filter((name) => !secrets.has(name))
        // Secrets are made by `npm run up` (random values) or by a person; gitops never invents or reads them.
        if (missing.length) throw new Error(`secrets ${missing.join(', ')} do not exist; run npm run up once, or docker secret create NAME -`)
        // Deploying the gitops stack replaces this very service: say so before the answer is cut.
        if (stack === 'gitops') report('gitops: deploying a new gitops service; this one stops, so this answer may end here (the new one resumes; see its log)')
        await deployStack(resolved, work)
        report(`${stack}: ${resolved.services.length} services deployed`)
        if (stack === 'collectors' && options.pushgateway) {
          try {
            const removed = await pruneGroups(options.pushgateway, config, [...options.collectors.keys()], options.log)
            if (removed.length) report(`removed the metrics of ${removed.filter((g) => !g.group).map((g) => `${g.job} ${g.target}`).join(', ')}`)
          } catch (error) {
            // The stack is deployed; stale groups only linger until the next collectors deployment.
            report(`could not prune the Pushgateway (${(error as Error).message}); stale groups stay until the next deployment`)
          }
        }
      } finally {
        rmSync(work, { recursive: true, force: true })
      }
    },
  }
}

/**
 * `activity logs setup` in the background: a new Elasticsearch takes minutes to answer, and the deployment of the
 * stacks after logs does not wait for it. Its result goes to the log.
 */
function setUpLogs(image: string, configText: string, report: (line: string) => void, log: Logger): void {
  report('logs: activity logs setup runs in the background until Elasticsearch answers (see the gitops log)')
  runLogsSetup({ image, configText, waitSeconds: 600 }).then(
    (lines) => log.info('logs setup done', { lines }),
    (error: Error) => log.error('logs setup failed; it runs again on the next deployment of logs, or run npm run up', { reason: error.message }),
  )
}

const unfinished = /^(new|pending|assigned|accepted|preparing|ready|starting|running)\b/i

/** Collector jobs are the replicated-job services with an activity.schedule label. */
export function dockerJobRunner(): JobRunner {
  return {
    async jobs(): Promise<ScheduledJob[]> {
      const names = (await docker(['service', 'ls', '--filter', `label=${scheduleLabel}`, '--format', '{{.Name}}'])).split('\n').filter(Boolean)
      if (!names.length) return []
      const specs = jsonLines<{ Spec: { Name: string; Labels?: Record<string, string> } }>(await docker(['service', 'inspect', '--format', '{{json .}}', ...names]))
      return specs.map((s) => ({ service: s.Spec.Name, schedule: s.Spec.Labels?.[scheduleLabel] ?? '' }))
    },
    async isRunning(service) {
      const states = (await docker(['service', 'ps', service, '--format', '{{.CurrentState}}'])).split('\n').filter(Boolean)
      return states.some((state) => unfinished.test(state))
    },
    async start(service) {
      await docker(['service', 'update', '--detach', '--force', service])
    },
  }
}

// The real world of gitops: validation with `activity validate`, images built from scripts/Dockerfile, stacks deployed
// through the same path as `npm run up`, and collector jobs re-run with `docker service update --force`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import * as v from 'valibot'
import { loadConfig } from '../collectors/runtime/activity-yml.ts'
import type { AnyCollector } from '../collectors/runtime/define.ts'
import type { Logger } from '../collectors/runtime/log.ts'
import { sourceNames } from '../collectors/runtime/registry.ts'
import { deployedState, deployStack, externalNeeds, isUnchanged, removeStack } from '../stacks/deploy/deploy.ts'
import { defaultProfile, readProfile, resolveForDeploy, type DeployProfile } from '../stacks/deploy/profile.ts'
import { deploySettings } from '../stacks/data-env.ts'
import { knownProfiles } from '../stacks/stacks.ts'
import { ConfigError } from '../collectors/runtime/errors.ts'
import { docker, jsonLines, type DockerError } from '../stacks/deploy/docker.ts'
import { activityTag, buildImage, imageName, type ProjectImage } from '../stacks/deploy/images.ts'
import { runLogsSetup } from '../stacks/deploy/logs-setup.ts'
import { ensureNetworks, existingSecrets, networkNames } from '../stacks/deploy/swarm.ts'
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

/** What `activity sources --json` prints. */
interface SourceListing {
  name: string
  schedule: string
  description: string
  example: string
  /** Whether the collector has history (a `<source>-history` job); absent in listings of builds before it. */
  history?: boolean
}

/** A collector known only from the listing of another build's image: enough to check activity.yml's shape and render its service. */
function listedCollector({ history, ...listing }: SourceListing): AnyCollector {
  return {
    ...listing,
    // Its history runs in its own image; here it only makes the collectors stack render its history job.
    ...(history ? { history: async () => {} } : {}),
    // Its own image checks the targets (activity check); here any entry passes, named as written.
    targets: v.pipe(v.unknown(), v.transform((value) => ({ id: typeof value === 'string' ? value : JSON.stringify(value) }))),
    options: v.unknown(),
    metrics: {},
    collect: async () => {},
  } as unknown as AnyCollector
}

/**
 * `compute` once per checkout folder: a deployment asks the same of its checkout for every stack (the tag hashes every
 * source file; the collectors may need an image built). Checkouts are temporary folders, so a few are remembered.
 */
function perCheckout<T>(compute: (dir: string, report: (line: string) => void) => Promise<T>): (dir: string, report: (line: string) => void) => Promise<T> {
  const known = new Map<string, Promise<T>>()
  return (dir, report) => {
    if (!known.has(dir)) {
      if (known.size > 8) known.clear()
      known.set(dir, compute(dir, report))
    }
    return known.get(dir)!
  }
}

export function swarmSteps(options: SwarmStepsOptions): DeploySteps {
  // How `up` deployed this swarm (overlays, services left out, profiles, settings, build base): deployed the same way.
  const profile = async () => (await readProfile()) ?? defaultProfile(options.registry)
  const tagOf = perCheckout((dir) => activityTag(dir))
  const build = async (dir: string, image: ProjectImage, report: (line: string) => void) => {
    const [tag, { registry, nodeImage, npmExtraCaPem }] = await Promise.all([tagOf(dir, report), profile()])
    const result = await buildImage(image, { root: dir, registry, tag, nodeImage, npmExtraCaPem: npmExtraCaPem ?? '', env: options.env, progress: report })
    report(`image ${image}:${tag} ${result}`)
    return imageName(registry, image, tag)
  }

  /**
   * The collectors a commit runs. This build's, when the commit has no collector file this build lacks; otherwise
   * the commit's collectors image is built first, activity.yml is checked by it (`activity check`), and its new
   * sources are known from its listing: a new source is one file and one activity.yml entry, deployed by one push.
   */
  const collectorsOf = perCheckout(findCollectors)
  async function findCollectors(dir: string, report: (line: string) => void): Promise<{ collectors: Map<string, AnyCollector>; problems: string[] }> {
    const names = sourceNames(pathToFileURL(join(dir, 'collectors') + '/'))
    const collectors = new Map([...options.collectors].filter(([name]) => names.includes(name)))
    const added = names.filter((name) => !options.collectors.has(name))
    if (!added.length) return { collectors, problems: [] }
    report(`new sources in this commit: ${added.join(', ')}; building the collectors image to check activity.yml with them`)
    const image = await build(dir, 'collectors', report)
    const listing = JSON.parse(await docker(['run', '--rm', image, 'sources', '--json'])) as SourceListing[]
    for (const listed of listing.filter((l) => added.includes(l.name))) collectors.set(listed.name, listedCollector(listed))
    const checked = await docker(['run', '--rm', '-i', image, 'check', '--config', '/dev/stdin'], { input: readFileSync(join(dir, 'activity.yml'), 'utf8') }).then(
      () => undefined,
      (error: DockerError) => error.output.trim().split('\n').pop()!.replace(/^activity: /, '').replaceAll('/dev/stdin', 'activity.yml'),
    )
    return { collectors, problems: checked ? [checked] : [] }
  }

  return {
    async validate(dir, report) {
      const { collectors, problems } = await collectorsOf(dir, report)
      if (problems.length) return problems
      const validation = await validate({ root: dir, collectors, env: options.env as NodeJS.ProcessEnv })
      if (validation.problems.length) return validation.problems.map(formatProblem)
      const conflict = settingsProblem(dir, collectors, await profile())
      return conflict ? [conflict] : []
    },
    async buildImage(dir, image, _fingerprint, report) {
      await build(dir, image, report)
    },
    async deployStack(dir, stack, report) {
      const config = loadConfig(join(dir, 'activity.yml'), (await collectorsOf(dir, report)).collectors)
      const [current, tag] = await Promise.all([profile(), tagOf(dir, report)])
      const work = mkdtempSync(join(tmpdir(), `activity-gitops-${stack}-`))
      try {
        const resolved = await resolveForDeploy(stack, { root: dir, config, profile: current, tag, workDir: work })
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
          setUpLogs(imageName(current.registry, 'gitops', tag), readFileSync(join(dir, 'activity.yml'), 'utf8'), report, options.log)
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
 * Why this commit's activity.yml cannot be deployed with what `up` was given (both set one thing differently, or up's
 * profiles name an overlay this commit no longer has), or undefined. The deployment would refuse it the same way.
 */
function settingsProblem(dir: string, collectors: Map<string, AnyCollector>, profile: DeployProfile): string | undefined {
  try {
    deploySettings(loadConfig(join(dir, 'activity.yml'), collectors), { profiles: profile.profiles, environment: profile.settings }, knownProfiles(dir))
    return undefined
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return error.message.replaceAll(`${dir}/`, '')
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

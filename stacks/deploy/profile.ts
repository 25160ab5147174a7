// How the platform is deployed on this swarm, beyond the repository: what `up` was given (overlays, services left
// out, endpoint mode, ACTIVITY_PROFILES, the setting variables and the collectors' settings of its environment, the
// base image and CA of the project's builds). `up` records it in a Swarm config; gitops reads it, so a commit is
// deployed exactly the way `up` deployed the platform, and `up` and gitops resolve the same commit to the same stacks
// (an unchanged stack is left alone).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import type { ActivityConfig } from '../../collectors/runtime/activity-yml.ts'
import { givenSettings } from '../data-env.ts'
import { historyJobName } from '../collectors-stack.ts'
import { renderStack, type StackName } from '../stacks.ts'
import { storesLeftOut } from '../backup-job.ts'
import { isLeftOut, resolveStack, type ResolvedStack } from './deploy.ts'
import { docker, dockerMaybe } from './docker.ts'
import { platformLabel } from './swarm.ts'
import { StepError } from '../../collectors/runtime/errors.ts'
import { budgetSetting, budgetShareFrom } from '../../collectors/github-history-budget.ts'

export const profileConfig = 'activity_deploy_profile'

export interface DeployProfile {
  /** 2 added profiles and settings; a version 1 profile (recorded before) reads as one with none. */
  version: 2
  /** Where the project's images are named from (REGISTRY). */
  registry: string
  /** Compose texts merged after each stack's own files, in order (`up --overlay DIR`). */
  overlays: Partial<Record<StackName, string[]>>
  /** Services not deployed (`up --without`). */
  without: string[]
  endpointMode?: 'vip' | 'dnsrr'
  /** Settings every collector service gets in its environment (API bases, timeouts): never secrets. */
  collectorSettings: Record<string, string>
  /** ACTIVITY_PROFILES of up (ha): overlays merged beside the ones activity.yml turns on. */
  profiles: string[]
  /** The setting variables of up's environment (METRICS_RETENTION, MONITORING_RETENTION, ES_HEAP, LOG_LEVEL, ...). */
  settings: Record<string, string>
  /** Base image of the project's images (NODE_IMAGE and RUNTIME_IMAGE), when not the Dockerfiles' pinned one. */
  nodeImage?: string
  /** CA certificates npm needs inside the build behind a TLS-inspecting proxy (public certificates, not secrets). */
  npmExtraCaPem?: string
}

/** Settings of the collectors taken from the environment of `up` (an API base for GitHub Enterprise, or the e2e's fake APIs). */
export const collectorSettingNames = [
  'GITHUB_API_URL',
  'DOCKERHUB_API_URL',
  'NPM_API_URL',
  'PYPISTATS_API_URL',
  'CRATES_API_URL',
  'CRATES_USER_AGENT',
  'HTTP_TIMEOUT_SECONDS',
  'HTTP_RETRIES',
  'GITHUB_MAX_WAIT_SECONDS',
  'DOCKERHUB_MAX_WAIT_SECONDS',
  'NPM_MAX_WAIT_SECONDS',
  'PYPI_MAX_WAIT_SECONDS',
  'CRATES_MAX_WAIT_SECONDS',
  'GITHUB_HISTORY_BUDGET_PERCENT',
] as const

export function defaultProfile(registry: string): DeployProfile {
  return { version: 2, registry, overlays: {}, without: [], collectorSettings: {}, profiles: [], settings: {} }
}

/** What up's environment adds to its profile: ACTIVITY_PROFILES, the setting variables, the collectors' settings. */
export function environmentSettings(env: Record<string, string | undefined>): Pick<DeployProfile, 'profiles' | 'settings' | 'collectorSettings'> {
  const given = givenSettings(env)
  return { profiles: [...given.profiles], settings: { ...given.environment }, collectorSettings: collectorSettingsFrom(env) }
}

export function collectorSettingsFrom(env: Record<string, string | undefined>): Record<string, string> {
  // Refused here, before anything is deployed, rather than by every history run (a UsageError naming the setting).
  budgetShareFrom(env[budgetSetting])
  return Object.fromEntries(collectorSettingNames.filter((name) => env[name]).map((name) => [name, env[name]!]))
}

/** The profile gitops deploys with; undefined when `up` never recorded one (gitops then deploys the repository as it is). */
export async function readProfile(): Promise<DeployProfile | undefined> {
  const data = await dockerMaybe(['config', 'inspect', '--format', '{{json .Spec.Data}}', profileConfig])
  if (data === undefined) return undefined
  const text = Buffer.from(JSON.parse(data) as string, 'base64').toString('utf8')
  const recorded = JSON.parse(text) as Omit<DeployProfile, 'version'> & { version: number }
  if (recorded.version === 1) return { ...recorded, version: 2, profiles: [], settings: {} }
  if (recorded.version !== 2) throw new StepError('profile', `the swarm config ${profileConfig} is version ${recorded.version}, newer than this code knows`, 'update gitops: run npm run up from the newer checkout')
  return recorded as DeployProfile
}

/** Records the profile unless the swarm holds this one already; says whether it wrote. */
export async function recordProfile(profile: DeployProfile): Promise<boolean> {
  const text = JSON.stringify(profile)
  const current = await readProfile().catch(() => undefined)
  if (current && JSON.stringify(current) === text) return false
  await dockerMaybe(['config', 'rm', profileConfig])
  await docker(['config', 'create', '--label', `${platformLabel}=true`, profileConfig, '-'], { input: text })
  return true
}

interface ComposeText {
  services?: Record<string, unknown>
  [key: string]: unknown
}

/**
 * An overlay of the collectors stack keeps only the jobs of sources that exist: an overlay naming a source
 * that a commit removed would otherwise make a service with no image.
 */
function forSources(text: string, sources: string[]): string {
  const compose = (parse(text) as ComposeText | null) ?? {}
  if (!compose.services) return text
  compose.services = Object.fromEntries(Object.entries(compose.services).filter(([name]) => sources.includes(name)))
  return stringify(compose)
}

export interface ResolveOptions {
  /** The tree the stack files come from. */
  root: string
  config: ActivityConfig
  profile: DeployProfile
  tag: string
  /** Where the overlay and rendered files are written for the Docker CLI; the caller removes it. */
  workDir: string
}

/**
 * A stack as this profile deploys it: rendered from activity.yml with what up was given (renderStack), merged with the
 * profile's overlays, interpolated, services left out. scripts/up and gitops both deploy exactly this.
 */
export async function resolveForDeploy(stack: StackName, options: ResolveOptions): Promise<ResolvedStack> {
  const { profile, config, workDir } = options
  // The collector jobs: each source's, and the history job of a source whose collector has history (collectors_github-history),
  // which reads the same settings (GITHUB_API_URL, the budget, the waits) and reaches the same APIs (an overlay's networks).
  const jobs = config.sources.flatMap((s) => (s.collector.history ? [s.name, historyJobName(s.name)] : [s.name]))
  const overlays = (profile.overlays[stack] ?? []).map((text, i) => {
    const file = join(workDir, `${stack}.overlay-${i}.yml`)
    writeFileSync(file, stack === 'collectors' ? forSources(text, jobs) : text)
    return file
  })
  if (stack === 'collectors' && Object.keys(profile.collectorSettings).length) {
    const file = join(workDir, 'collectors.settings.yml')
    writeFileSync(file, stringify({ version: '3.9', services: Object.fromEntries(jobs.map((s) => [s, { environment: profile.collectorSettings }])) }))
    overlays.push(file)
  }
  const backupWithout = storesLeftOut((stackName, service) => isLeftOut(stackName, service, profile.without))
  const given = { profiles: profile.profiles, environment: profile.settings }
  const plan = renderStack(stack, { root: options.root, config, given, overlays, outDir: workDir, endpointMode: profile.endpointMode, backupWithout })
  try {
    return await resolveStack({ name: stack, files: plan.files, env: { ...plan.env, REGISTRY: profile.registry, ACTIVITY_TAG: options.tag } }, profile.without)
  } finally {
    plan.cleanup()
  }
}

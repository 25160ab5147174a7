// The settings a deployment applies and where each comes from: activity.yml at the commit deployed, else what
// `npm run up` was given (ACTIVITY_PROFILES and the setting variables of its environment, recorded in the swarm for
// gitops), else the stack files' defaults. renderStack calls it for up and gitops alike: the same inputs, the same specs.
import type { ActivityConfig } from '../collectors/runtime/activity-yml.ts'
import { ConfigError } from '../collectors/runtime/errors.ts'

/** What `npm run up` was given beyond the repository; up records it in the swarm, and gitops deploys with it. */
export interface GivenSettings {
  /** ACTIVITY_PROFILES, in order. */
  profiles: readonly string[]
  /** The setting variables of its environment that were set (names of settingVariables). */
  environment: Readonly<Record<string, string>>
}

export const nothingGiven: GivenSettings = { profiles: [], environment: {} }

interface SettingVariable {
  /** The activity.yml field that sets the same thing, when there is one. */
  field?: string
  /** Where it goes. */
  sets: string
  pattern: RegExp
  /** What a value must be, and one that is. */
  expected: string
  example: string
}

const duration = { pattern: /^[1-9][0-9]*(h|d|w|y)$/, expected: 'a number and a unit (h, d, w or y)' }

/** The variables of up's environment that are deploy settings (the README lists them); any other is not read. */
export const settingVariables: Record<string, SettingVariable> = {
  METRICS_RETENTION: { field: 'metrics.retention', sets: 'metrics_prometheus --storage.tsdb.retention.time', ...duration, example: '2y' },
  METRICS_RETENTION_SIZE: { field: 'metrics.retentionSize', sets: 'metrics_prometheus --storage.tsdb.retention.size', pattern: /^[1-9][0-9]*(KB|MB|GB|TB|PB)$/, expected: 'a number and a unit (KB, MB, GB, TB or PB)', example: '50GB' },
  MONITORING_RETENTION: { sets: 'monitoring_prometheus --storage.tsdb.retention.time', ...duration, example: '30d' },
  ES_HEAP: { sets: 'logs_elasticsearch ES_JAVA_OPTS -Xms and -Xmx', pattern: /^[1-9][0-9]*[mg]$/, expected: 'a JVM heap size in m or g', example: '2g' },
  LOG_LEVEL: { sets: 'LOG_LEVEL of the collector jobs and the backup job', pattern: /^(debug|info|warn|error)$/, expected: 'debug, info, warn or error', example: 'warn' },
}

/** Profiles that activity.yml turns on too: the field, and the value that means the profile is on. */
const settingProfiles: Record<string, { field: string; on: unknown }> = {
  longterm: { field: 'metrics.longTerm.enabled', on: true },
  nodes3: { field: 'logs.nodes', on: 3 },
}

/** Where the nodes3 profile's three Elasticsearch nodes go (ELASTICSEARCH_PLACEMENT of stacks/logs.yml). */
export const elasticsearchNodesPlacement = 'node.labels.activity.elasticsearch == true'

/** What a deployment applies: the variables the stack files interpolate, and the profiles whose overlays merge. */
export interface DeploySettings {
  environment: Record<string, string>
  profiles: string[]
}

const upEnvironment = 'the environment of npm run up'

/** ACTIVITY_PROFILES and the setting variables of an environment (empty values count as unset). */
export function givenSettings(env: Record<string, string | undefined>): GivenSettings {
  const profiles = (env.ACTIVITY_PROFILES ?? '').split(',').map((p) => p.trim()).filter(Boolean)
  const environment = Object.fromEntries(Object.keys(settingVariables).filter((name) => env[name]?.trim()).map((name) => [name, env[name]!.trim()]))
  return { profiles: [...new Set(profiles)], environment }
}

function valueAt(config: ActivityConfig, field: string): unknown {
  return field.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config)
}

/** activity.yml writes `field` with another value than the one up was given (`given`, as NAME=value): refused. */
function conflict(config: ActivityConfig, field: string, given: string, undo: string): ConfigError {
  return new ConfigError(
    config.file,
    config.written[field],
    field,
    `${String(valueAt(config, field))} here, but npm run up was given ${given}`,
    `keep one: remove ${field} from activity.yml, or run npm run up ${undo}`,
  )
}

/**
 * The settings of one deployment. activity.yml wins where it writes a setting, up's environment where the file is
 * silent; when both set the same thing to different values, nothing is deployed and the error names both.
 * `knownProfiles` are the profiles some stack of this tree has an overlay for.
 */
export function deploySettings(config: ActivityConfig, given: GivenSettings, knownProfiles: readonly string[]): DeploySettings {
  for (const [name, value] of Object.entries(given.environment)) {
    const variable = settingVariables[name]
    if (!variable) throw new ConfigError(upEnvironment, undefined, name, 'is not a setting npm run up reads', `use ${Object.keys(settingVariables).join(', ')}`)
    if (!variable.pattern.test(value)) throw new ConfigError(upEnvironment, undefined, name, `'${value}' must be ${variable.expected}`, `e.g. ${name}=${variable.example}`)
  }
  for (const profile of given.profiles) {
    if (!knownProfiles.includes(profile)) {
      throw new ConfigError(upEnvironment, undefined, 'ACTIVITY_PROFILES', `'${profile}' is not a profile of any stack (no stacks/<stack>.${profile}.yml)`, `use ${knownProfiles.join(', ') || 'none'}, or leave it out`)
    }
  }

  const setting = (name: string, field: string): string | undefined => {
    const fromUp = given.environment[name]
    const written = field in config.written
    if (written && fromUp !== undefined && fromUp !== String(valueAt(config, field))) throw conflict(config, field, `${name}=${fromUp}`, `without ${name}`)
    return written ? String(valueAt(config, field)) : (fromUp ?? (valueAt(config, field) as string | undefined))
  }
  const profileOn = (profile: string): boolean => {
    const { field, on } = settingProfiles[profile]!
    const fromUp = given.profiles.includes(profile)
    const written = field in config.written
    if (written && fromUp && valueAt(config, field) !== on) throw conflict(config, field, `ACTIVITY_PROFILES=${given.profiles.join(',')}`, `without ${profile} in ACTIVITY_PROFILES`)
    return written ? valueAt(config, field) === on : fromUp || valueAt(config, field) === on
  }

  const environment: Record<string, string> = {
    DOMAIN: config.platform.domain,
    METRICS_RETENTION: setting('METRICS_RETENTION', 'metrics.retention')!,
    // Prometheus reads 0 as "no size limit".
    METRICS_RETENTION_SIZE: setting('METRICS_RETENTION_SIZE', 'metrics.retentionSize') ?? '0',
    LONGTERM_RETENTION: config.metrics.longTerm.retention,
  }
  for (const [name, value] of Object.entries(given.environment)) if (!settingVariables[name]!.field) environment[name] = value
  const profiles = [...given.profiles.filter((p) => !(p in settingProfiles)), ...Object.keys(settingProfiles).filter(profileOn)]
  // Three Elasticsearch nodes cannot all be on the storage node (logs.yml's default placement): they go to the nodes
  // labelled for them (stacks/logs.nodes3.yml).
  if (profiles.includes('nodes3')) environment.ELASTICSEARCH_PLACEMENT = elasticsearchNodesPlacement
  return { environment, profiles }
}

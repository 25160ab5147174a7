// `activity data backup|restore|list` and `activity logs setup`: the data lifecycle from the command line.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import pkg from '../../package.json' with { type: 'json' }
import type { ActivityConfig, LogsConfig } from '../../collectors/runtime/activity-yml.ts'
import { cronProblem } from '../../collectors/runtime/activity-yml.ts'
import { UsageError } from '../../collectors/runtime/errors.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { runSync } from '../../stacks/programs.ts'
import { listBackups, restoreBackup, takeBackup } from './backup.ts'
import { reportBackup } from './backup-health.ts'
import { createHashPool, type HashPool } from './hashing.ts'
import { connect } from './elasticsearch.ts'
import { formatBytes } from './files.ts'
import { setupLogs } from './logs-setup.ts'
import { platformStores, readStoresFile, storesFrom, type StoreSpec } from './stores.ts'

export const dataUsage = `usage: activity data backup [--to DIR] [--keep N] [--archive none|tar.gz|tar.zst] [--stores FILE] [--only NAME]... [--without NAME]... [--pushgateway URL [--schedule CRON]]
       activity data restore BACKUP [--stores FILE] [--only NAME]... [--force] [--timeout SECONDS]
       activity data list [--to DIR]
  backup   one backup of every store (each Prometheus, the Pushgateway, Grafana's database, Elasticsearch) into
           DIR/activity-backup-<time>, with manifest.json (checksums); keeps the last N (backup.keep in activity.yml)
  restore  checks every part first, refuses a store holding data without --force, then restores each store and
           waits until it answers
  list     the backups in DIR, newest first
  --stores FILE  where the stores are (YAML; see the README); default: the platform's, as the backup job sees them
                 (--grafana postgres for the ha profile, default from ACTIVITY_PROFILES)
  --pushgateway URL  report the run's health there (job="backup", target="stores"), as the scheduled job does;
                 --schedule is its cron (default backup.schedule), for the alert on a late backup
environment: ACTIVITY_BACKUPS (default DIR), ACTIVITY_STORES (default --stores), ACTIVITY_COMMIT, ACTIVITY_CONFIG`

export const logsUsage = `usage: activity logs setup [--elasticsearch URL] [--config FILE]
  puts the nginx-access index template, ILM policy (delete after logs.retention), SLM weekly snapshot policy and
  snapshot repository into Elasticsearch, only where they differ; a second run writes nothing
environment: ELASTICSEARCH_URL (default http://logs_elasticsearch:9200), ELASTICSEARCH_API_KEY_FILE,
  ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD_FILE, ELASTICSEARCH_RETRIES (default 3)`

type LoadConfig = (file: string) => Promise<ActivityConfig>

const say = (line: string) => process.stdout.write(line + '\n')

/** activity.yml when there is one (flags win over it); undefined when there is none to read. */
async function optionalConfig(flag: string | undefined, env: NodeJS.ProcessEnv, load: LoadConfig): Promise<ActivityConfig | undefined> {
  const file = flag ?? env.ACTIVITY_CONFIG ?? 'activity.yml'
  if (!flag && !existsSync(file)) return undefined
  return load(file)
}

/** The deployed commit: ACTIVITY_COMMIT (set by the deploy), else the platform repository here, else unknown. */
function deployedCommit(env: NodeJS.ProcessEnv): string | null {
  if (env.ACTIVITY_COMMIT) return env.ACTIVITY_COMMIT
  const git = runSync('git', ['rev-parse', 'HEAD'])
  return git.code === 0 ? git.stdout.trim() : null
}

function storeSpecs(values: { stores?: string; grafana?: string }, env: NodeJS.ProcessEnv): StoreSpec[] {
  const file = values.stores ?? env.ACTIVITY_STORES
  if (file) return readStoresFile(file)
  const grafana = values.grafana ?? ((env.ACTIVITY_PROFILES ?? '').split(',').includes('ha') ? 'postgres' : 'sqlite')
  if (grafana !== 'sqlite' && grafana !== 'postgres') throw new UsageError(`--grafana ${grafana}: sqlite (default) or postgres (the ha profile)`)
  return platformStores({ grafana })
}

function pick(specs: StoreSpec[], only: string[] | undefined, without: string[] | undefined): StoreSpec[] {
  for (const name of [...(only ?? []), ...(without ?? [])]) {
    if (!specs.some((s) => s.name === name)) throw new UsageError(`no store named ${name}; the stores are ${specs.map((s) => s.name).join(', ')}`)
  }
  return specs.filter((s) => (!only?.length || only.includes(s.name)) && !without?.includes(s.name))
}

async function backupCommand(rest: string[], env: NodeJS.ProcessEnv, loadConfig: LoadConfig, pool: HashPool): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      to: { type: 'string' },
      keep: { type: 'string' },
      archive: { type: 'string' },
      stores: { type: 'string' },
      grafana: { type: 'string' },
      only: { type: 'string', multiple: true },
      without: { type: 'string', multiple: true },
      config: { type: 'string' },
      pushgateway: { type: 'string' },
      schedule: { type: 'string' },
    },
  })
  if (positionals.length) throw new UsageError(`data backup takes no arguments (got ${positionals.join(' ')})`)
  const config = await optionalConfig(values.config, env, loadConfig)
  const keep = values.keep === undefined ? (config?.backup.keep ?? 7) : Number(values.keep)
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`--keep ${values.keep}: a whole number of backups, at least 1`)
  const archive = values.archive ?? config?.backup.archive ?? 'none'
  if (archive !== 'none' && archive !== 'tar.gz' && archive !== 'tar.zst') throw new UsageError(`--archive ${archive}: none, tar.gz or tar.zst`)
  const schedule = values.schedule ?? config?.backup.schedule ?? '0 3 * * *'
  const cron = cronProblem(schedule)
  if (cron) throw new UsageError(`--schedule ${schedule}: not a cron schedule (${cron})`)
  const started = Date.now()
  let ok = false
  try {
    const stores = await storesFrom(pick(storeSpecs(values, env), values.only, values.without), { controls: false })
    const result = await takeBackup({ stores, to: resolve(values.to ?? env.ACTIVITY_BACKUPS ?? 'backups'), keep, archive, commit: deployedCommit(env), tool: `activity ${pkg.version}`, progress: say, pool })
    for (const failure of result.manifest.failed) process.stderr.write(`activity: backup of ${failure.name} failed: ${failure.error}\n`)
    ok = !result.manifest.failed.length
    return ok ? 0 : 1
  } finally {
    // The scheduled job reports every run, like a collector: the alert rules and the Collectors dashboard read it.
    if (values.pushgateway) await reportBackup(values.pushgateway, schedule, { started, finished: Date.now(), ok }, createLogger({ level: 'warn' }))
  }
}

async function restoreCommand(rest: string[], env: NodeJS.ProcessEnv, pool: HashPool): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      stores: { type: 'string' },
      grafana: { type: 'string' },
      only: { type: 'string', multiple: true },
      force: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300' },
    },
  })
  const [source, ...extra] = positionals
  if (!source || extra.length) throw new UsageError('data restore takes one backup (a folder or archive; activity data list shows them)')
  const timeout = Number(values.timeout)
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout ${values.timeout}: seconds to wait for each store to answer`)
  const stores = await storesFrom(storeSpecs(values, env))
  await restoreBackup({ source: resolve(source), stores, only: values.only, force: values.force, progress: say, readyTimeoutMs: timeout * 1000, pool })
  say(`restore: ${source}: done`)
  return 0
}

export async function dataCommand(args: string[], env: NodeJS.ProcessEnv, loadConfig: LoadConfig): Promise<number> {
  const [what, ...rest] = args
  if (what === 'backup' || what === 'restore') {
    // Started first: its workers take 20 to 40 ms to start, while the arguments, activity.yml and the stores are read.
    const pool = createHashPool()
    try {
      return await (what === 'backup' ? backupCommand(rest, env, loadConfig, pool) : restoreCommand(rest, env, pool))
    } finally {
      await pool.close()
    }
  }
  if (what === 'list') {
    const { values } = parseArgs({ args: rest, options: { to: { type: 'string' } } })
    const dir = resolve(values.to ?? env.ACTIVITY_BACKUPS ?? 'backups')
    const backups = await listBackups(dir)
    if (!backups.length) say(`no backup in ${dir}`)
    for (const backup of backups) {
      const m = backup.manifest
      const parts = m ? m.parts.map((p) => p.name).join(',') + (m.failed.length ? ` (FAILED: ${m.failed.map((f) => f.name).join(',')})` : '') : `DAMAGED: ${backup.problem}`
      say(`${backup.name.padEnd(42)} ${backup.time.toISOString()}  ${(m?.commit ?? '-').slice(0, 12).padEnd(12)}  ${formatBytes(backup.bytes).padStart(8)}  ${parts}`)
    }
    return 0
  }
  if (what === undefined || what === 'help' || what === '--help') {
    say(dataUsage)
    return what === undefined ? 2 : 0
  }
  throw new UsageError(`unknown data command '${what}'; ${dataUsage.split('\n')[0]}`)
}

export async function logsCommand(args: string[], env: NodeJS.ProcessEnv, loadConfig: LoadConfig): Promise<number> {
  const [what, ...rest] = args
  if (what === 'setup') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { elasticsearch: { type: 'string' }, config: { type: 'string' } } })
    if (positionals.length) throw new UsageError(`logs setup takes no arguments (got ${positionals.join(' ')})`)
    const config = await optionalConfig(values.config, env, loadConfig)
    const logs: LogsConfig = config?.logs ?? { retention: '8w', nodes: 1 }
    if (!config) say('logs setup: no activity.yml here: logs.retention 8w (the default)')
    const es = connect({
      url: values.elasticsearch ?? env.ELASTICSEARCH_URL ?? 'http://logs_elasticsearch:9200',
      apiKeyFile: env.ELASTICSEARCH_API_KEY_FILE,
      username: env.ELASTICSEARCH_USERNAME,
      passwordFile: env.ELASTICSEARCH_PASSWORD_FILE,
      maxRetries: env.ELASTICSEARCH_RETRIES === undefined ? undefined : Number(env.ELASTICSEARCH_RETRIES),
    })
    await setupLogs(es, logs, say)
    return 0
  }
  if (what === undefined || what === 'help' || what === '--help') {
    say(logsUsage)
    return what === undefined ? 2 : 0
  }
  throw new UsageError(`unknown logs command '${what}'; ${logsUsage.split('\n')[0]}`)
}

// Alert receivers on a real single-node Swarm: npm run up, given an activity.yml with a webhook receiver and a Slack
// receiver whose URL is a Swarm secret, deploys the Alertmanager config rendered from it with the secret mounted; a
// commit adding a receiver is pushed to gitops, which redeploys the monitoring stack alone; and alerts reach the webhook
// receiver of their severity, which this test runs on the host.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse, parseDocument } from 'yaml'
import { docker, dockerMaybe } from '../../stacks/deploy/docker.ts'
import { requireBinary, type ApiServer } from '../support/servers.ts'
import { cleanPlatform, cleanUp, configFile, gitopsAnswering, gitopsRemote, hostPorts, hostReceiver, npmRun, platformRepo, poll, type PlatformRepo, type Prepared } from './platform.ts'

const test = suite('alert receivers on a single-node swarm')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const echo = (line: string) => process.stdout.write(`    | ${line}\n`)
const gitopsPort = 8088
/** A secret this test creates (and removes): the Slack receiver's URL. */
const slackSecret = 'e2e_alerts_slack_url'
const alertmanager = `http://127.0.0.1:${hostPorts.alertmanager}`

let prepared: Prepared | undefined
let repo: PlatformRepo | undefined
let remote = ''
let receiver: ApiServer | undefined
/** The receiver's address as the containers see it. */
let hooks = ''

interface WebhookBody {
  receiver: string
  alerts: { status: string; labels: Record<string, string> }[]
}
const webhookBodies = (path: string) => receiver!.requests.filter((r) => r.method === 'POST' && r.url === path).map((r) => JSON.parse(r.body) as WebhookBody)

interface RunningConfig {
  receivers: { name: string; webhook_configs?: { url: string }[]; slack_configs?: { api_url_file?: string; channel?: string }[] }[]
  route: { routes?: { receiver: string; matchers?: string[] }[] }
}

/** The config the running Alertmanager loaded (its status API returns the file), once it names `receiver`. */
function runningConfig(receiverName: string): Promise<RunningConfig> {
  return poll(`Alertmanager to run a config with the receiver ${receiverName}`, async () => {
    const status = (await (await fetch(`${alertmanager}/api/v2/status`).catch(() => undefined))?.json().catch(() => undefined)) as { config?: { original?: string } } | undefined
    const config = status?.config?.original ? (parse(status.config.original) as RunningConfig) : undefined
    return config?.receivers.some((r) => r.name === receiverName) ? config : undefined
  }, 180_000, 2000)
}

/** activity.yml with these receivers, edited as a person would (comments kept). */
function withReceivers(text: string, receivers: Record<string, unknown>[]): string {
  const doc = parseDocument(text)
  doc.set('alerts', doc.createNode({ receivers }))
  return doc.toString()
}

test.before(async () => {
  requireBinary('git', 'git')
  try {
    prepared = await cleanPlatform(log)
    // The receiver listens where the swarm's containers reach this host: the gateway of their bridge to it.
    const host = await hostReceiver()
    receiver = host.server
    hooks = host.base
    log(`webhook receiver at ${hooks}`)
    // A person creates the credential's secret first, then names it in activity.yml.
    await dockerMaybe(['secret', 'rm', slackSecret])
    await docker(['secret', 'create', slackSecret, '-'], { input: `${hooks}/slack` })
    const activityYml = withReceivers(readFileSync(configFile, 'utf8'), [
      { name: 'oncall', kind: 'webhook', url: `${hooks}/oncall`, severities: ['critical'] },
      { name: 'team', kind: 'slack', secret: slackSecret, channel: '#e2e', severities: ['warning'] },
    ])
    repo = await platformRepo({ 'activity.yml': activityYml })
    const up = await npmRun('up', [...prepared.upArgs, '--config', join(repo.path, 'activity.yml')], prepared.env, echo)
    if (up.code !== 0) throw new Error(`npm run up failed (exit ${up.code})`)
    remote = gitopsRemote(prepared, gitopsPort)
    await gitopsAnswering(gitopsPort)
    await repo.git('push', remote, 'HEAD:main')
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  await receiver?.close()
  await cleanUp(prepared, log)
  await dockerMaybe(['secret', 'rm', slackSecret])
  repo?.remove()
})

test('npm run up deploys the Alertmanager config rendered from activity.yml, the receiver\'s secret mounted', async () => {
  const config = await runningConfig('oncall')
  assert.equal(config.receivers.map((r) => r.name), ['ui-only', 'oncall', 'team'])
  assert.equal(config.receivers[1]!.webhook_configs?.map((c) => c.url), [`${hooks}/oncall`])
  assert.equal(config.receivers[2]!.slack_configs?.map((c) => [c.api_url_file, c.channel]), [[`/run/secrets/${slackSecret}`, '#e2e']])
  assert.equal(config.route.routes?.map((r) => [r.receiver, r.matchers]), [['oncall', ['severity="critical"']], ['team', ['severity="warning"']]])
  const spec = JSON.parse(await docker(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.ContainerSpec}}', 'monitoring_alertmanager'])) as { Secrets?: { SecretName: string; File: { Name: string } }[]; Configs?: { ConfigName: string }[] }
  assert.equal(spec.Secrets?.map((s) => [s.SecretName, s.File.Name]), [[slackSecret, slackSecret]])
  assert.ok(spec.Configs?.some((c) => /^monitoring_alertmanager_[0-9a-f]{8}$/.test(c.ConfigName)), JSON.stringify(spec.Configs))
})

test('a commit adding a receiver redeploys only the monitoring stack, and the running Alertmanager has it', async () => {
  const text = readFileSync(join(repo!.path, 'activity.yml'), 'utf8')
  const doc = parseDocument(text)
  const receivers = (doc.toJS() as { alerts: { receivers: Record<string, unknown>[] } }).alerts.receivers
  const pushed = await repo!.commitAndPush(remote, 'alerts: news to their own webhook', {
    'activity.yml': withReceivers(text, [...receivers, { name: 'news', kind: 'webhook', url: `${hooks}/news`, severities: ['info'] }]),
  })
  pushed.output.split('\n').filter(Boolean).forEach(echo)
  assert.is(pushed.code, 0)
  assert.match(pushed.output, /stacks to deploy: monitoring\s*$/m)
  assert.match(pushed.output, /: deployed monitoring in /)
  const config = await runningConfig('news')
  assert.equal(config.receivers.map((r) => r.name), ['ui-only', 'oncall', 'team', 'news'])
})

test('an alert reaches the webhook receiver of its severity, and only that one', async () => {
  const alerts = [
    { labels: { alertname: 'E2eCritical', severity: 'critical' }, annotations: { summary: 'sent by the alerts e2e' } },
    { labels: { alertname: 'E2eInfo', severity: 'info' }, annotations: { summary: 'sent by the alerts e2e' } },
  ]
  const posted = await fetch(`${alertmanager}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) })
  assert.is(posted.status, 200)
  // group_wait is 30 s (stacks/monitoring/alertmanager.yml).
  const critical = await poll('E2eCritical at the oncall webhook', async () => webhookBodies('/oncall').find((b) => b.alerts.some((a) => a.labels.alertname === 'E2eCritical')), 120_000, 1000)
  const info = await poll('E2eInfo at the news webhook', async () => webhookBodies('/news').find((b) => b.alerts.some((a) => a.labels.alertname === 'E2eInfo')), 120_000, 1000)
  assert.is(critical.receiver, 'oncall')
  assert.is(info.receiver, 'news')
  assert.ok(webhookBodies('/oncall').every((b) => b.alerts.every((a) => a.labels.severity === 'critical')), 'only critical alerts at oncall')
  assert.ok(webhookBodies('/news').every((b) => b.alerts.every((a) => a.labels.severity === 'info')), 'only info alerts at news')
})

test.run()

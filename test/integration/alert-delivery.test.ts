// An alert reaches a person: the real monitoring rules in Debian's Prometheus fire, Debian's Alertmanager runs the
// alertmanager.yml the monitoring stack is deployed with (rendered from activity.yml's receivers), routes by severity,
// and the webhook and Slack receivers this test runs get the notification. Debian's amtool checks the rendered config.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseConfig } from '../../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { renderStack } from '../../stacks/stacks.ts'
import { requireBinary, startApiServer, startProgram, tempDir, waitFor, type ApiServer, type RecordedRequest, type Started } from '../support/servers.ts'

const test = suite('alert delivery')
const root = new URL('../../', import.meta.url).pathname
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const dir = tempDir('alert-delivery')
const running: Started[] = []
let receiver: ApiServer
let gitops: ApiServer
/** What the fake gitops reports as the app stack's last deployment (1 succeeded, 0 failed or rolled back). */
let appDeployed = 0

interface WebhookBody {
  receiver: string
  status: 'firing' | 'resolved'
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[]
}

/** The alertmanager.yml the monitoring stack would be deployed with, for this activity.yml (the deploy path's own render). */
function renderedAlertmanager(activityYml: string): string {
  const out = join(dir.path, `render-${Math.random().toString(36).slice(2)}`)
  mkdirSync(out)
  const plan = renderStack('monitoring', { root, config: parseConfig(activityYml, 'activity.yml', collectors), outDir: out })
  plan.cleanup()
  return readFileSync(join(out, 'alertmanager.yml'), 'utf8')
}

/** An activity.yml with one source and these alert receivers (each a YAML flow mapping). */
const withReceivers = (...receivers: string[]) => `sources:
  dockerhub:
    targets: [prom]
alerts:
  receivers:
${receivers.map((receiver) => `    - ${receiver}\n`).join('')}`

/** What Debian's amtool says of the alertmanager.yml rendered for this activity.yml (written to `name` in the test's folder). */
function amtoolCheck(name: string, activityYml: string) {
  const file = join(dir.path, name)
  writeFileSync(file, renderedAlertmanager(activityYml))
  return spawnSync(requireBinary('amtool', 'prometheus-alertmanager'), ['check-config', file], { encoding: 'utf8' })
}

const posts = (path: string) => receiver.requests.filter((r) => r.method === 'POST' && r.url === path)
const webhookBodies = (path: string) => posts(path).map((r: RecordedRequest) => JSON.parse(r.body) as WebhookBody)

test.before(async () => {
  const alertmanagerBinary = requireBinary('prometheus-alertmanager', 'prometheus-alertmanager')
  const prometheusBinary = requireBinary('prometheus', 'prometheus')
  receiver = await startApiServer(() => ({ status: 200, body: 'ok' }))
  gitops = await startApiServer(() => ({
    headers: { 'content-type': 'text/plain; version=0.0.4' },
    body: `# HELP activity_gitops_last_deploy_success 1 if the last deployment of the stack succeeded, 0 if it failed.\n# TYPE activity_gitops_last_deploy_success gauge\nactivity_gitops_last_deploy_success{stack="app"} ${appDeployed}\nactivity_gitops_last_deploy_success{stack="metrics"} 1\n`,
  }))

  // The Slack incoming-webhook URL is a credential: a secret file, as Swarm mounts it at /run/secrets/<name>.
  const secrets = join(dir.path, 'secrets')
  mkdirSync(secrets)
  writeFileSync(join(secrets, 'alerts_slack_url'), `${receiver.url}/slack\n`)
  const activityYml = withReceivers(
    `{name: oncall, kind: webhook, url: "${receiver.url}/oncall", severities: [critical]}`,
    `{name: news, kind: webhook, url: "${receiver.url}/news", severities: [info]}`,
    '{name: team, kind: slack, secret: alerts_slack_url, channel: "#platform", severities: [critical, warning]}',
  )
  // Where Swarm would mount the secret, and timings of seconds instead of the stack's 30 s and 5 min: only routing is tested.
  const config = renderedAlertmanager(activityYml)
    .replaceAll('/run/secrets/', `${secrets}/`)
    .replace(/group_wait: 30s/, 'group_wait: 1s')
    .replace(/group_interval: 5m/, 'group_interval: 1s')
  writeFileSync(join(dir.path, 'alertmanager.yml'), config)
  mkdirSync(join(dir.path, 'am-data'))
  const alertmanager: Started = await startProgram(
    alertmanagerBinary,
    (port) => [`--config.file=${join(dir.path, 'alertmanager.yml')}`, `--storage.path=${join(dir.path, 'am-data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    '/-/ready',
  )
  running.push(alertmanager)

  // The monitoring stack's own rules, plus one info alert that is always on (the activity alerts need weeks of data).
  copyFileSync(join(root, 'stacks/monitoring/rules.yml'), join(dir.path, 'rules.yml'))
  writeFileSync(join(dir.path, 'news.yml'), 'groups:\n  - name: news\n    rules:\n      - alert: TestNews\n        expr: vector(1)\n        labels: {severity: info}\n')
  writeFileSync(
    join(dir.path, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml, news.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:${alertmanager.port}"]}]
scrape_configs:
  - job_name: gitops
    static_configs: [{targets: ["${new URL(gitops.url).host}"]}]
`,
  )
  mkdirSync(join(dir.path, 'tsdb'))
  // An alert that fires before Prometheus has found the Alertmanager is sent again a minute later by default.
  const resendEachSecond = ['--rules.alert.resend-delay=1s']
  running.push(
    await startProgram(prometheusBinary, (port) => [`--config.file=${join(dir.path, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...resendEachSecond], '/-/ready'),
  )
})

test.after(async () => {
  for (const program of running.reverse()) await program.stop()
  await receiver?.close()
  await gitops?.close()
  dir.remove()
})

test('a failed deployment fires DeploymentFailed and the critical receivers get it: the webhook and Slack (URL read from its secret file)', async () => {
  const firing = await waitFor('DeploymentFailed at the oncall webhook', () => webhookBodies('/oncall').find((b) => b.status === 'firing'), 30_000, 200)
  assert.is(firing.receiver, 'oncall')
  assert.equal(
    firing.alerts.map((a) => [a.labels.alertname, a.labels.stack, a.labels.severity]),
    [['DeploymentFailed', 'app', 'critical']],
  )
  assert.is(firing.alerts[0]!.annotations.summary, 'the last deployment of the app stack failed')
  const slack = await waitFor('the Slack message', () => posts('/slack')[0], 30_000, 200)
  const message = JSON.parse(slack.body) as { channel?: string; attachments?: { title?: string }[] }
  assert.is(message.channel, '#platform')
  assert.match(message.attachments?.[0]?.title ?? '', /\[FIRING:1\] DeploymentFailed/)
})

test('severity routes: the info alert reaches only the info receiver, the critical one only the critical receivers', async () => {
  const news = await waitFor('TestNews at the news webhook', () => webhookBodies('/news').find((b) => b.status === 'firing'), 30_000, 200)
  assert.equal(news.alerts.map((a) => a.labels.alertname), ['TestNews'])
  assert.ok(webhookBodies('/news').every((b) => b.alerts.every((a) => a.labels.severity === 'info')), 'no critical alert at the info receiver')
  assert.ok(webhookBodies('/oncall').every((b) => b.alerts.every((a) => a.labels.alertname !== 'TestNews')), 'no info alert at the critical receiver')
  assert.ok(posts('/slack').every((r) => !r.body.includes('TestNews')), 'no info alert in Slack')
})

test('once the stack deploys again the receiver is told the alert is resolved', async () => {
  appDeployed = 1
  const resolved = await waitFor('a resolved notification at the oncall webhook', () => webhookBodies('/oncall').find((b) => b.status === 'resolved'), 60_000, 200)
  assert.equal(resolved.alerts.map((a) => [a.labels.alertname, a.status]), [['DeploymentFailed', 'resolved']])
})

test("Debian's amtool accepts the rendered config of a webhook URL, Slack and e-mail receivers", () => {
  const result = amtoolCheck(
    'checked.yml',
    withReceivers(
      '{name: oncall, kind: webhook, url: "https://hooks.example.org/alert", severities: [critical]}',
      '{name: team, kind: slack, secret: alerts_slack_url, channel: "#platform"}',
      '{name: ops, kind: email, to: ops@example.org, from: alerts@example.org, smarthost: "smtp.example.org:587", username: alerts, secret: alerts_smtp_password, severities: [critical, warning]}',
    ),
  )
  assert.is(result.status, 0, result.stdout + result.stderr)
  assert.match(result.stdout, /Found:\n - global config\n - route\n - 1 inhibit rules\n - 4 receivers/)
})

test("Debian's amtool (0.25) predates the two *_file fields it lacks, and names only them: webhook url_file (0.26) and Discord webhook_url_file (0.27)", () => {
  const result = amtoolCheck('newer.yml', withReceivers('{name: oncall, kind: webhook, secret: alerts_webhook_url}', '{name: community, kind: discord, secret: alerts_discord_url}'))
  assert.is.not(result.status, 0)
  const unknown = [...(result.stdout + result.stderr).matchAll(/field (\S+) not found/g)].map((m) => m[1])
  assert.equal(unknown, ['url_file', 'webhook_url_file'])
})

test.run()

// The alerts: section of activity.yml: who hears about an alert (webhook, Slack, Discord, e-mail) and of which severity.
// Every credential is the name of a Swarm secret, never a value: the file is committed.
import * as v from 'valibot'
import type { SectionAt } from './activity-yml-cluster.ts'
import { allowedFor, check, type Schema } from './schema.ts'

export const severities = ['critical', 'warning', 'info'] as const
export type Severity = (typeof severities)[number]

export const receiverKinds = ['webhook', 'slack', 'discord', 'email'] as const
export type ReceiverKind = (typeof receiverKinds)[number]

interface ReceiverBase {
  name: string
  /** The severities routed to it; all of them unless the entry says. */
  severities: Severity[]
  /** Also told when the alert stops firing. */
  sendResolved: boolean
}

/** An HTTP endpoint that gets Alertmanager's JSON; the URL is in a secret when it carries a token. */
export interface WebhookReceiver extends ReceiverBase {
  kind: 'webhook'
  url: string | undefined
  secret: string | undefined
}

export interface SlackReceiver extends ReceiverBase {
  kind: 'slack'
  /** Secret holding the incoming-webhook URL. */
  secret: string
  channel: string | undefined
}

export interface DiscordReceiver extends ReceiverBase {
  kind: 'discord'
  /** Secret holding the channel's webhook URL. */
  secret: string
}

export interface EmailReceiver extends ReceiverBase {
  kind: 'email'
  to: string
  from: string
  /** host:port of the SMTP server. */
  smarthost: string
  username: string | undefined
  /** Secret holding the SMTP password; with username. */
  secret: string | undefined
  requireTls: boolean
}

export type Receiver = WebhookReceiver | SlackReceiver | DiscordReceiver | EmailReceiver

export interface AlertsConfig {
  receivers: Receiver[]
}

/** Swarm's rule for secret names (letters, digits, - _ .; at most 64), checked here so a deploy never finds out. */
const secretName = v.pipe(
  v.string('expected the name of a Swarm secret'),
  v.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/, 'must be the name of a Swarm secret (letters, digits, - _ and ., at most 64), not its value'),
)

const httpUrl = v.pipe(
  v.string('expected a URL'),
  v.check((value) => {
    try {
      const url = new URL(value)
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
    } catch {
      return false
    }
  }, 'must be an http:// or https:// URL'),
)

const email = v.pipe(v.string('expected an e-mail address'), v.regex(/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/, 'must be an e-mail address such as ops@example.org'))

const common = {
  name: v.pipe(v.string('expected a name'), v.regex(/^[a-z0-9][a-z0-9_-]*$/i, 'must be letters, digits, - and _ (it names the receiver in Alertmanager)')),
  kind: v.string(),
  severities: v.optional(v.pipe(v.array(v.picklist(severities, `must be one of ${severities.join(', ')}`)), v.minLength(1, 'is empty: leave it out for every severity')), [...severities]),
  sendResolved: v.optional(v.boolean(), true),
}

const kindSchemas = {
  webhook: v.strictObject({ ...common, url: v.optional(httpUrl), secret: v.optional(secretName) }),
  slack: v.strictObject({ ...common, secret: secretName, channel: v.optional(v.pipe(v.string(), v.regex(/^[#@]?[a-z0-9._-]+$/i, 'must be a channel such as #alerts'))) }),
  discord: v.strictObject({ ...common, secret: secretName }),
  email: v.strictObject({
    ...common,
    to: email,
    from: email,
    smarthost: v.pipe(v.string('expected host:port of the SMTP server'), v.regex(/^[a-z0-9.-]+:[0-9]{1,5}$/i, 'must be host:port of the SMTP server, e.g. smtp.example.org:587')),
    username: v.optional(v.pipe(v.string(), v.minLength(1, 'is empty'))),
    secret: v.optional(secretName),
    requireTls: v.optional(v.boolean(), true),
  }),
} as const

const sectionSchema = v.optional(v.strictObject({ receivers: v.optional(v.array(v.unknown()), []) }), {})

const examples: Record<ReceiverKind, string> = {
  webhook: '{name: oncall, kind: webhook, secret: alerts_webhook_url}',
  slack: '{name: team, kind: slack, secret: alerts_slack_url, channel: "#alerts"}',
  discord: '{name: community, kind: discord, secret: alerts_discord_url}',
  email: '{name: ops, kind: email, to: ops@example.org, from: alerts@example.org, smarthost: smtp.example.org:587, username: alerts, secret: alerts_smtp_password}',
}

function isReceiverKind(kind: unknown): kind is ReceiverKind {
  return typeof kind === 'string' && (receiverKinds as readonly string[]).includes(kind)
}

/** The receivers of activity.yml's alerts: section; none when it is absent. */
export function parseAlerts(at: SectionAt, value: unknown): AlertsConfig {
  const parsed = check(sectionSchema, value ?? undefined)
  if (!parsed.ok) throw at.fromProblem(['alerts'], parsed.problem, parsed.problem.unknown ? allowedFor(sectionSchema, parsed.problem) : undefined)
  const receivers: Receiver[] = []
  const seen = new Map<string, number>()
  parsed.value.receivers.forEach((entry, index) => {
    const path = ['alerts', 'receivers', index]
    const kind = (entry as { kind?: unknown } | null)?.kind
    if (kind === undefined) throw at.error([...path, 'kind'], 'is missing', `say which: ${receiverKinds.join(', ')}`)
    if (!isReceiverKind(kind)) throw at.error([...path, 'kind'], `unknown receiver kind '${String(kind)}'`, `use one of ${receiverKinds.join(', ')}`)
    const schema = kindSchemas[kind]
    const checked = check(schema as Schema<Entry>, entry)
    if (!checked.ok) {
      const { problem } = checked
      const fix = problem.unknown ? `a ${kind} receiver has ${allowedFor(schema, problem)}` : problem.missing ? `e.g. ${examples[kind]}` : undefined
      throw at.fromProblem(path, problem, fix)
    }
    const receiver = toReceiver(kind, checked.value)
    if (receiver.kind === 'webhook' && (receiver.url === undefined) === (receiver.secret === undefined)) {
      throw at.error(path, receiver.url ? 'has both url and secret' : 'has neither url nor secret', 'give secret: (the Swarm secret holding the URL) when the URL carries a token, else url:')
    }
    if (receiver.kind === 'email' && (receiver.username === undefined) !== (receiver.secret === undefined)) {
      throw at.error([...path, receiver.username ? 'secret' : 'username'], 'is missing', 'SMTP authentication needs both username: and secret: (the Swarm secret holding the password); leave both out for none')
    }
    const first = seen.get(receiver.name)
    if (first !== undefined || receiver.name === 'ui-only') {
      throw at.error([...path, 'name'], first !== undefined ? `duplicate receiver '${receiver.name}' (also receivers[${first}])` : "'ui-only' is the platform's own receiver", 'give each receiver its own name')
    }
    seen.set(receiver.name, index)
    receivers.push(receiver)
  })
  return { receivers }
}

type Entry = { name: string; severities: Severity[]; sendResolved: boolean } & Record<string, unknown>

function toReceiver(kind: ReceiverKind, entry: Entry): Receiver {
  const base = { name: entry.name, severities: [...new Set(entry.severities)], sendResolved: entry.sendResolved }
  const text = (key: string) => entry[key] as string | undefined
  switch (kind) {
    case 'webhook':
      return { ...base, kind, url: text('url'), secret: text('secret') }
    case 'slack':
      return { ...base, kind, secret: text('secret')!, channel: text('channel') }
    case 'discord':
      return { ...base, kind, secret: text('secret')! }
    case 'email':
      return { ...base, kind, to: text('to')!, from: text('from')!, smarthost: text('smarthost')!, username: text('username'), secret: text('secret'), requireTls: entry.requireTls as boolean }
  }
}

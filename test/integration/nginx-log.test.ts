// The app's nginx.conf under Debian's nginx: every access-log line it sends over syslog is JSON with the fields the
// Logstash pipeline and the website dashboards use, whatever a client puts in its request.
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startAppNginx } from '../support/nginx.ts'
import { tempDir, waitFor, type Started } from '../support/servers.ts'

const stacks = new URL('../../stacks/', import.meta.url).pathname
const test = suite('nginx access log')
const dir = tempDir('nginx')
let nginx: Started
let receiver: UdpSocket
const datagrams: Buffer[] = []

/** The nginx-access-* index fields and types (the platform's contract; the template must map exactly these). */
const indexFields: Record<string, string> = {
  '@timestamp': 'date',
  client_ip: 'ip',
  method: 'keyword',
  path: 'keyword',
  status: 'short',
  bytes: 'long',
  request_time: 'float',
  referrer: 'keyword',
  host: 'keyword',
  'user_agent.original': 'keyword',
  'user_agent.name': 'keyword',
  'user_agent.os.name': 'keyword',
  'user_agent.device.name': 'keyword',
  'geoip.location': 'geo_point',
  'geoip.country_name': 'keyword',
  'geoip.country_iso_code': 'keyword',
  'geoip.city_name': 'keyword',
}
const lineFields = ['time', 'client_ip', 'method', 'path', 'status', 'bytes', 'request_time', 'referrer', 'host', 'user_agent']

interface Syslog {
  priority: number
  tag: string
  message: string
  bytes: number
}

function syslog(datagram: Buffer): Syslog {
  const text = datagram.toString('utf8')
  // RFC 3164 as nginx writes it: <PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MESSAGE
  const match = /^<(\d{1,3})>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S* ?(nginx_\w+): ([\s\S]*)$/.exec(text)
  if (!match) throw new Error(`not a syslog line: ${JSON.stringify(text.slice(0, 200))}`)
  return { priority: Number(match[1]), tag: match[2]!, message: match[3]!, bytes: datagram.length }
}

const accessLines = () => datagrams.map(syslog).filter((s) => s.tag === 'nginx_access')

/** Sends raw bytes as one HTTP request (no client library to clean them up) and resolves with the status. */
function request(raw: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(nginx.port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')))
    socket.on('error', reject)
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)))
    socket.end(raw)
  })
}

/** One request, then its access-log line (requests go one at a time, so lines arrive in order). */
async function logged(raw: string | Buffer): Promise<{ status: number; line: Record<string, unknown>; bytes: number }> {
  const before = accessLines().length
  const status = await request(raw)
  const entry = await waitFor('the access-log line of the request', () => accessLines()[before])
  let line: unknown
  try {
    line = JSON.parse(entry.message)
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message}): ${entry.message}`)
  }
  return { status, line: line as Record<string, unknown>, bytes: entry.bytes }
}

function http(path: string, headers: Record<string, string> = {}, method = 'GET'): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: www.example.org', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Connection: close', '', '']
  return Buffer.from(lines.join('\r\n'), 'utf8')
}

test.before(async () => {
  receiver = createSocket('udp4')
  receiver.on('message', (message) => datagrams.push(message))
  await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve))
  const syslogPort = (receiver.address() as AddressInfo).port
  // Besides the listen address and the relay's port, only Logstash's address changes: in the Swarm it is
  // logs_logstash:5514 (re-resolution is test/integration/nginx-resolve.test.ts).
  const logstash = `set $logstash 127.0.0.1:${syslogPort};`
  nginx = await startAppNginx(dir.path, (conf) => conf.replace('set $logstash logs_logstash:5514;', logstash), [logstash])
})

test.after(async () => {
  await nginx?.stop()
  receiver?.close()
  dir.remove()
})

test('a visit is one JSON line with exactly the fields of the index, every value a string Logstash converts', async () => {
  const agent = 'Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0'
  const { status, line } = await logged(http('/missing-page?utm_source=newsletter&id=7', { 'User-Agent': agent, Referer: 'https://news.example.com/item?id=1' }))
  assert.is(status, 404)
  assert.equal(Object.keys(line), lineFields)
  for (const field of lineFields) assert.type(line[field], 'string', field)
  assert.is(line.method, 'GET')
  assert.is(line.path, '/missing-page', 'the path without its query string')
  assert.is(line.status, '404')
  assert.match(line.bytes as string, /^\d+$/)
  assert.match(line.request_time as string, /^\d+\.\d{3}$/)
  assert.is(line.referrer, 'https://news.example.com/item?id=1')
  assert.is(line.host, 'www.example.org')
  assert.is(line.user_agent, agent)
  assert.is(line.client_ip, '127.0.0.1')
  // ISO 8601 with offset: the Logstash date filter's format.
  assert.match(line.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/)
  assert.ok(Math.abs(Date.parse(line.time as string) - Date.now()) < 60_000, 'the time of the request')
})

test('the client address is the visitor Traefik forwarded, also through a chain of private proxies, also IPv6', async () => {
  assert.is((await logged(http('/', { 'X-Forwarded-For': '203.0.113.7' }))).line.client_ip, '203.0.113.7')
  assert.is((await logged(http('/', { 'X-Forwarded-For': '198.51.100.23, 10.0.4.7' }))).line.client_ip, '198.51.100.23')
  assert.is((await logged(http('/', { 'X-Forwarded-For': '2001:db8::1' }))).line.client_ip, '2001:db8::1')
})

test('quotes, backslashes, UTF-8 and control characters in the user agent and referrer come back exactly', async () => {
  const agent = 'Agent "quoted" \\back\\slash ünïcødé € 🚀 \x01\x07\x1b[31mred\x1b[0m \x7f\ttab'
  const referrer = 'https://example.org/?q="<script>alert(\'x\')</script>"&r=\\'
  const { line } = await logged(http('/', { 'User-Agent': agent, Referer: referrer }))
  assert.is(line.user_agent, agent)
  assert.is(line.referrer, referrer)
})

test('hostile paths (quotes, backslashes, braces, raw UTF-8, encoded newlines) come back as sent', async () => {
  const paths = ['/a"b\\c\'d', '/{"json":true}', '/ünï/€/🚀', '/%22%0A%0D%7B', "/';%20DROP%20TABLE%20visits;--"]
  for (const path of paths) {
    const { line } = await logged(http(path))
    assert.is(line.path, path)
  }
})

test('requests nginx refuses (an encoded NUL, a climb above the root) are still one JSON line each, with their 400', async () => {
  for (const path of ['/%00secret', '/..%2f..%2f..%2fetc/passwd']) {
    const { status, line } = await logged(http(path))
    assert.is(status, 400, path)
    assert.is(line.status, '400')
    assert.equal(Object.keys(line), lineFields)
  }
})

test('a huge path, user agent and referrer are cut, so the line stays JSON within the 9000 bytes Logstash reads', async () => {
  const { line, bytes } = await logged(http(`/${'p'.repeat(6000)}`, { 'User-Agent': '\x01'.repeat(6000), Referer: '"'.repeat(6000) }))
  assert.ok(bytes <= 9000, `${bytes} bytes`)
  assert.is(line.path, `/${'p'.repeat(511)}`)
  assert.is(line.user_agent, '\x01'.repeat(256))
  assert.is(line.referrer, '"'.repeat(256))
})

test('other methods and statuses are logged too, and errors go to the error log tag', async () => {
  const head = await logged(http('/', {}, 'HEAD'))
  assert.is(head.line.method, 'HEAD')
  assert.is(head.line.bytes, '0')
  const errorsBefore = datagrams.map(syslog).filter((s) => s.tag === 'nginx_error').length
  // Over client_max_body_size: answered 413 and logged as an error.
  const tooLarge = await logged(http('/upload', { 'Content-Length': '2000000', 'Content-Type': 'application/octet-stream' }, 'POST'))
  assert.is(tooLarge.status, 413)
  assert.is(tooLarge.line.status, '413')
  assert.is(tooLarge.line.method, 'POST')
  const error = await waitFor('the error-log line', () => datagrams.map(syslog).filter((s) => s.tag === 'nginx_error')[errorsBefore])
  assert.match(error.message, /client intended to send too large body/)
})

test('health checks are not visits', async () => {
  const before = accessLines().length
  assert.is(await request(http('/healthz')), 200)
  await logged(http('/after-health-check'))
  assert.equal(accessLines().slice(before).map((l) => (JSON.parse(l.message) as { path: string }).path), ['/after-health-check'])
})

test('the fields nginx writes are the ones Logstash moves into the index template, which maps exactly the index fields', () => {
  const pipeline = readFileSync(join(stacks, 'logs/logstash.conf'), 'utf8')
  const moves = Object.fromEntries([...pipeline.matchAll(/"\[@metadata\]\[access\]\[(\w+)\]" => "([^"]+)"/g)].map((m) => [m[1]!, m[2]!]))
  assert.equal(Object.keys(moves).sort(), lineFields.filter((f) => f !== 'time').sort(), 'every field but time is moved')
  assert.match(pipeline, /match => \["\[@metadata\]\[access\]\[time\]", "ISO8601"\]/, 'time becomes @timestamp')
  const toPath = (field: string) => field.replace(/^\[|\]$/g, '').split('][').join('.')
  const written = new Set(Object.values(moves).map(toPath))

  const template = JSON.parse(readFileSync(join(stacks, 'logs/nginx-access-template.json'), 'utf8')) as {
    index_patterns: string[]
    template: { mappings: { dynamic: boolean; properties: Record<string, unknown> } }
  }
  assert.equal(template.index_patterns, ['nginx-access-*'])
  const mapped: Record<string, string> = {}
  const flatten = (properties: Record<string, unknown>, prefix: string) => {
    for (const [name, spec] of Object.entries(properties) as [string, { type?: string; properties?: Record<string, unknown> }][]) {
      if (spec.properties) flatten(spec.properties, `${prefix}${name}.`)
      else mapped[`${prefix}${name}`] = spec.type!
    }
  }
  flatten(template.template.mappings.properties, '')
  assert.equal(mapped, indexFields)
  assert.is(template.template.mappings.dynamic, false, 'nothing else is indexed')
  for (const field of written) assert.ok(field in indexFields, `${field} is written but not mapped`)
})

test.run()

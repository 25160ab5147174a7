// The app's nginx.conf under Debian's nginx follows Logstash to a new address: a DNS server of this test answers for
// logs_logstash (as Docker's embedded DNS does in the Swarm), the answer changes mid-test (the logs stack re-created),
// and the access-log lines must arrive at the new address without nginx being restarted or reloaded.
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as dnsPacket from 'dns-packet'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startAppNginx } from '../support/nginx.ts'
import { tempDir, waitFor, type Started } from '../support/servers.ts'

const test = suite('nginx re-resolves Logstash')
const dir = tempDir('nginx-resolve')
let nginx: Started
let dns: UdpSocket
/** What the DNS server answers for logs_logstash, and the questions it was asked. */
let logstashAddress = '127.0.0.1'
const questions: string[] = []
/** Logstash before and after: the same port on two loopback addresses. */
const receivers: Record<string, { socket: UdpSocket; paths: string[] }> = {}

function bindUdp(address: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4')
    socket.once('error', reject)
    socket.bind(port, address, () => resolve(socket))
  })
}

function receive(address: string, socket: UdpSocket): void {
  const entry = { socket, paths: [] as string[] }
  receivers[address] = entry
  socket.on('message', (message) => {
    const json = /nginx_access: (\{.*\})$/s.exec(message.toString('utf8'))?.[1]
    if (json) entry.paths.push((JSON.parse(json) as { path: string }).path)
  })
}

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: nginx.port, path, headers: { Host: 'www.example.org' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

test.before(async () => {
  // The DNS server: an A record for logs_logstash with a 1 s TTL, whatever logstashAddress is now.
  dns = createSocket('udp4')
  dns.on('message', (message, from) => {
    const query = dnsPacket.decode(message)
    const question = query.questions?.[0]
    if (!question) return
    questions.push(`${question.type} ${question.name}`)
    const known = question.type === 'A' && question.name === 'logs_logstash' && logstashAddress !== ''
    const answers = known ? [{ type: 'A' as const, name: question.name, ttl: 1, data: logstashAddress }] : []
    // NXDOMAIN (rcode 3) when logs_logstash has no address: the logs stack is not deployed.
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3)
    const reply = dnsPacket.encode({ id: query.id, type: 'response', flags, questions: query.questions, answers })
    dns.send(reply, from.port, from.address)
  })
  await new Promise<void>((resolve) => dns.bind(0, '127.0.0.1', resolve))
  const dnsPort = (dns.address() as AddressInfo).port

  const first = await bindUdp('127.0.0.1', 0)
  const logstashPort = (first.address() as AddressInfo).port
  receive('127.0.0.1', first)
  receive('127.0.0.2', await bindUdp('127.0.0.2', logstashPort))

  // What changes besides the listen address and the relay's port: the DNS server (Docker's is 127.0.0.11) and how long
  // its answer is kept (1 s, not 10 s, to keep the test short), and Logstash's port. The name stays logs_logstash.
  nginx = await startAppNginx(
    dir.path,
    (conf) =>
      conf
        .replace('resolver 127.0.0.11 valid=10s ipv6=off;', `resolver 127.0.0.1:${dnsPort} valid=1s ipv6=off;`)
        .replace('set $logstash logs_logstash:5514;', `set $logstash logs_logstash:${logstashPort};`),
    [`resolver 127.0.0.1:${dnsPort} `, `logs_logstash:${logstashPort}`],
  )
})

test.after(async () => {
  await nginx?.stop()
  dns?.close()
  for (const { socket } of Object.values(receivers)) socket.close()
  dir.remove()
})

test('the lines go to the address logs_logstash resolves to now: after it changes, to the new one, nginx left running', async () => {
  assert.is(await get('/before'), 404)
  await waitFor('the first line at the first address', () => receivers['127.0.0.1']!.paths.includes('/before'))
  assert.ok(questions.includes('A logs_logstash'), `nginx asked the DNS server for logs_logstash (asked: ${questions.join(', ')})`)

  // The logs stack is re-created: Logstash answers at another address.
  logstashAddress = '127.0.0.2'
  const switched = Date.now()
  let sent = 0
  await waitFor(
    'a line at the new address',
    async () => {
      await get(`/after-${++sent}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
      return receivers['127.0.0.2']!.paths.length > 0
    },
    15_000,
    200,
  )
  const seconds = (Date.now() - switched) / 1000
  process.stdout.write(`first line at the new address ${seconds.toFixed(1)} s after the DNS answer changed (resolver valid=1s here, 10s in the Swarm)\n`)

  // Once every worker's cached answer is older than valid= (each nginx worker keeps its own, counted in whole seconds:
  // up to 2 s here, 11 s in the Swarm), every line goes there.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const oldCount = receivers['127.0.0.1']!.paths.length
  const next = ['/next-1', '/next-2', '/next-3', '/next-4', '/next-5', '/next-6']
  for (const path of next) await get(path)
  await waitFor('the next lines at the new address', () => next.every((p) => receivers['127.0.0.2']!.paths.includes(p))).catch((error: Error) => {
    throw new Error(`${error.message}: at the old address ${receivers['127.0.0.1']!.paths.join(' ')}; at the new one ${receivers['127.0.0.2']!.paths.join(' ')}`)
  })
  assert.is(receivers['127.0.0.1']!.paths.length, oldCount, 'nothing more at the old address')
})

test('while logs_logstash does not resolve, pages are served and the failures do not feed themselves through syslog', async () => {
  logstashAddress = ''
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const asked = questions.length
  for (let i = 0; i < 5; i++) assert.is(await get(`/while-absent-${i}`), 404)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const more = questions.length - asked
  // One look-up per line at most (each failure cached for valid=); an error sent back through the relay would loop.
  assert.ok(more <= 10, `${more} DNS questions for 5 requests`)
  assert.equal([...receivers['127.0.0.1']!.paths, ...receivers['127.0.0.2']!.paths].filter((p) => p.startsWith('/while-absent')), [])
  // Back: the lines flow again.
  logstashAddress = '127.0.0.2'
  await waitFor('lines again once logs_logstash resolves', async () => {
    await get('/back')
    await new Promise((resolve) => setTimeout(resolve, 100))
    return receivers['127.0.0.2']!.paths.includes('/back')
  }, 15_000, 200)
})

test.run()

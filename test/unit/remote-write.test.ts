// The remote write request as a receiver reads it: headers, snappy block, and a WriteRequest decoded from prompb's own
// .proto text (parsed here, not the sink's message definitions). A real Prometheus takes it in test/integration/history.test.ts.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import protobuf from 'protobufjs'
import snappy from 'snappyjs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import { createRemoteWriteSink, RemoteWriteError } from '../../collectors/runtime/remote-write.ts'

// prometheus/prompb/types.proto and remote.proto (v2.42), the messages a WriteRequest carries.
const prompbText = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated prometheus.TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
message Sample { double value = 1; int64 timestamp = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; }
message Label { string name = 1; string value = 2; }
`
const WriteRequest = protobuf.parse(prompbText).root.lookupType('prometheus.WriteRequest')

interface Received {
  headers: Record<string, string | string[] | undefined>
  series: { labels: Record<string, string>; samples: [number, number][] }[]
}

const test = suite('remote write')
let server: Server
let url: string
let received: Received[] = []
let answers: { status: number; body: string }[] = []
const logs: string[] = []

test.before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const raw = snappy.uncompress(new Uint8Array(Buffer.concat(chunks)))
      const decoded = WriteRequest.toObject(WriteRequest.decode(raw), { longs: Number, defaults: true }) as {
        timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[]
      }
      received.push({
        headers: req.headers,
        series: decoded.timeseries.map((t) => ({ labels: Object.fromEntries(t.labels.map((l) => [l.name, l.value])), samples: t.samples.map((s) => [s.timestamp, s.value]) })),
      })
      const answer = answers.shift() ?? { status: 204, body: '' }
      res.writeHead(answer.status).end(answer.body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
test.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
test.before.each(() => {
  received = []
  answers = []
  logs.length = 0
})

const specs = { github_repository_stars: { help: 'Stars.', labels: ['owner', 'repository'] } } as const
const owner = { job: 'github', target: 'prometheus/prometheus' }
const sink = (maxSamples?: number) => createRemoteWriteSink(url, owner, specs, { log: createLogger({ write: (l) => logs.push(l) }), retryBaseMs: 5, maxSamples })
const day = (n: number) => 1_600_000_000 - (1_600_000_000 % 86_400) + n * 86_400
const stars = (n: number, value: number) => ({ name: 'github_repository_stars', labels: { owner: 'prometheus', repository: 'prometheus' }, timestampSeconds: day(n), value })

test('a write is one POST to /api/v1/write with the remote write 1.0 headers', async () => {
  await sink().write([stars(0, 10)])
  assert.is(received.length, 1)
  const { headers } = received[0]!
  assert.is(headers['content-encoding'], 'snappy')
  assert.is(headers['content-type'], 'application/x-protobuf')
  assert.is(headers['x-prometheus-remote-write-version'], '0.1.0')
})

test('each series carries __name__, job and target beside its own labels, and its samples in time order in milliseconds', async () => {
  await sink().write([stars(2, 12), stars(0, 10), stars(1, 11), stars(1, 11)])
  assert.equal(received[0]!.series, [
    {
      labels: { __name__: 'github_repository_stars', job: 'github', owner: 'prometheus', repository: 'prometheus', target: 'prometheus/prometheus' },
      samples: [[day(0) * 1000, 10], [day(1) * 1000, 11], [day(2) * 1000, 12]],
    },
  ])
})

test('labels are sent sorted by name, as the protocol requires', async () => {
  const other = { name: 'github_repository_stars', labels: { repository: 'alertmanager', owner: 'prometheus' }, timestampSeconds: day(0), value: 1 }
  await sink().write([other])
  const raw = received[0]!.series[0]!.labels
  const names = Object.keys(raw)
  assert.equal(names, [...names].sort())
})

test('a long history goes in requests of at most maxSamples, each series still in time order', async () => {
  const samples = Array.from({ length: 12_000 }, (_, i) => stars(i, i))
  const writer = sink(5000)
  await writer.write(samples)
  assert.equal(received.map((r) => r.series.reduce((sum, s) => sum + s.samples.length, 0)), [5000, 5000, 2000])
  const all = received.flatMap((r) => r.series.flatMap((s) => s.samples.map(([t]) => t)))
  assert.equal(all, samples.map((s) => s.timestampSeconds * 1000))
  assert.is(writer.written, 12_000)
})

test('a refused write (4xx) is not retried and names the out-of-order window', async () => {
  answers = [{ status: 400, body: 'out of bounds' }]
  const error = await sink().write([stars(0, 1)]).then(() => undefined, (e: unknown) => e)
  assert.instance(error, RemoteWriteError)
  assert.match((error as Error).message, /^remote write to http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write failed: 400 out of bounds; .*out_of_order_time_window/)
  assert.is(received.length, 1)
})

test('an answer of 503 is retried, and the write resolves once Prometheus took it', async () => {
  answers = [{ status: 503, body: 'busy' }]
  await sink().write([stars(0, 1)])
  assert.is(received.length, 2)
  assert.match(logs.join('\n'), /retrying remote write/)
})

test('a metric the collector did not declare is refused before anything is sent', async () => {
  const error = await sink().write([{ name: 'github_repository_forks', labels: {}, timestampSeconds: day(0), value: 1 }]).then(() => undefined, (e: unknown) => e)
  assert.match(String(error), /github_repository_forks is not declared/)
  assert.is(received.length, 0)
})

test.run()

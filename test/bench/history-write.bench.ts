// The two ways history can reach the metrics Prometheus, measured on the real Debian prometheus: remote write into its
// receiver with the out-of-order window (the path the platform uses), and OpenMetrics text turned into blocks by
// `promtool tsdb create-blocks-from openmetrics`, moved into its data folder. The load: the daily history of
// HISTORY_BENCH_REPOS repositories (default 1,000) over HISTORY_BENCH_DAYS days (default 3,650), four series each
// (stars, forks, open issues, merged pull requests). Figures: wall time, the Prometheus' peak RSS (VmHWM of
// /proc/<pid>/status) while it takes the history, through a restart and through its first compaction, and promtool's.
// Target: the metrics Prometheus takes the history by remote write within its 1 GB stack limit. The restart figure
// (every out-of-order sample replayed) sizes HISTORY_MAX_SAMPLES: run it with HISTORY_BENCH_REPOS=69 for one share.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger } from '../../collectors/runtime/log.ts'
import type { HistorySample } from '../../collectors/runtime/history.ts'
import { createOpenMetricsDocument } from '../../collectors/runtime/openmetrics.ts'
import { createRemoteWriteSink } from '../../collectors/runtime/remote-write.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'

const repos = Number(process.env.HISTORY_BENCH_REPOS ?? 1000)
const days = Number(process.env.HISTORY_BENCH_DAYS ?? 3650)
const batchRepos = Number(process.env.HISTORY_BENCH_BATCH ?? 100)
const limitBytes = 1024 ** 3
const specs = {
  github_repository_stars: { help: 'Stars.', labels: ['owner', 'repository'] },
  github_repository_forks: { help: 'Forks.', labels: ['owner', 'repository'] },
  github_repository_open_issues: { help: 'Open issues.', labels: ['owner', 'repository'] },
  github_repository_merged_pull_requests: { help: 'Merged pull requests.', labels: ['owner', 'repository'] },
} as const
const names = Object.keys(specs) as (keyof typeof specs)[]
const today = Math.floor(Date.now() / 86_400_000) * 86_400
const log = createLogger({ level: 'warn' })
const work = tempDir('bench-history')
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9
const mb = (kb: number) => `${Math.round(kb / 1024)} MB`

/** One repository's history: each series grows by a few a day, as a popular repository's counts do. */
function repositoryHistory(r: number): HistorySample[] {
  const samples: HistorySample[] = []
  const labels = { owner: `owner-${r % 50}`, repository: `repo-${r}` }
  names.forEach((name, m) => {
    let value = 0
    for (let d = days; d >= 1; d--) {
      value += (r * 7 + d * 13 + m) % 17
      samples.push({ name, labels, timestampSeconds: today - d * 86_400, value })
    }
  })
  return samples
}

const config = (dir: string) => {
  const file = join(dir, 'prometheus.yml')
  writeFileSync(file, 'global:\n  scrape_interval: 60s\nstorage:\n  tsdb:\n    out_of_order_time_window: 25y\n')
  return file
}

async function startMetricsPrometheus(dir: string, data: string): Promise<Started> {
  const binary = requireBinary('prometheus', 'prometheus')
  const file = config(dir)
  return startProgram(
    binary,
    (port) => [`--config.file=${file}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver', '--storage.tsdb.retention.time=20y', '--log.level=warn'],
    '/-/ready',
    // A restart replays the WAL and the out-of-order WBL before it is ready.
    { readyTimeoutMs: 15 * 60_000 },
  )
}

/** Peak resident memory of a running process, in kB. */
function peakKb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? 0)
}

async function query(url: string, promql: string, at: number): Promise<number> {
  const body = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}&time=${at}`)).json()) as { data: { result: { value: [number, string] }[] } }
  return Number(body.data.result[0]?.value[1] ?? 0)
}

/** Waits until Prometheus answers every series at a day of the past (history visible). */
const allVisible = (url: string, timeoutMs: number) =>
  waitFor('every history series at a day ten years back', async () => (await query(url, 'count({__name__=~"github_.*"})', today - (days - 1) * 86_400)) === repos * names.length, timeoutMs, 1000)

function diskBytes(dir: string): number {
  let total = 0
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return 0 // removed by compaction meanwhile
  }
  for (const name of names) {
    const path = join(dir, name)
    // Compaction creates and removes folders while this walks.
    const stat = statSync(path, { throwIfNoEntry: false })
    if (stat) total += stat.isDirectory() ? diskBytes(path) : stat.size
  }
  return total
}

/** Prints a figure at once (a long bench shows where it is) and keeps it for the verdict. */
function report(lines: string[], line: string): void {
  console.log(line)
  lines.push(line)
}

const blockCount = (data: string) => readdirSync(data).filter((n) => /^[0-9A-Z]{26}$/.test(n)).length

const clockSink = (url: string) => createRemoteWriteSink(url, { job: 'bench', target: 'clock' }, { bench_clock: { help: 'Clock.', labels: [] } }, { log })

/** The metrics Prometheus scrapes the Pushgateway every minute: its head is at now, so history is out of order there. */
async function headAtNow(url: string): Promise<void> {
  await clockSink(url).write([{ name: 'bench_clock', labels: {}, timestampSeconds: Math.floor(Date.now() / 1000), value: 0 }])
}

/** Makes the head compact (as it does once it spans 3 hours, then its out-of-order samples too): a clock series from 4 hours ago to now. */
async function forceCompaction(url: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000)
  await clockSink(url).write(Array.from({ length: 25 }, (_, i) => ({ name: 'bench_clock', labels: {}, timestampSeconds: now - 4 * 3600 + i * 600, value: i })))
}

const compactionSeconds = Number(process.env.HISTORY_BENCH_COMPACTION_SECONDS ?? 300)

async function tsdbMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
}

/**
 * Lets Prometheus compact for up to compactionSeconds, until no compaction ran for 30 s: the blocks it holds then,
 * how many compactions it ran, and whether it was still at it when the time was up.
 */
async function compactionAfter(url: string): Promise<string> {
  const start = process.hrtime.bigint()
  const deadline = Date.now() + compactionSeconds * 1000
  let last = await tsdbMetric(url, 'prometheus_tsdb_compactions_total')
  let quietSince = Date.now()
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const now = await tsdbMetric(url, 'prometheus_tsdb_compactions_total')
    if (now !== last) {
      last = now
      quietSince = Date.now()
    }
    const settled = Date.now() - quietSince >= 30_000 && (await tsdbMetric(url, 'prometheus_tsdb_blocks_loaded')) > 0
    if (settled || Date.now() > deadline) {
      const blocks = await tsdbMetric(url, 'prometheus_tsdb_blocks_loaded')
      return `${settled ? `settled after ${(seconds(start) - 30).toFixed(0)} s` : `still compacting after ${compactionSeconds} s`}: ${last} compactions, ${blocks} blocks loaded`
    }
  }
}

/** One way of taking the history in, into a Prometheus of its own: its folders, that Prometheus (a step may restart it) and the report. */
interface WritePath {
  dir: string
  data: string
  prometheus: Started
  lines: string[]
}

/**
 * Measures one way of taking the history in: a fresh Prometheus with its head at now, `take` writes the history and
 * reports, then the compaction that follows (`compaction` says which) is measured and reported under the same `name`.
 */
async function measurePath(folder: string, name: string, compaction: string, take: (path: WritePath) => Promise<void>): Promise<string[]> {
  const dir = join(work.path, folder)
  const data = join(dir, 'data')
  mkdirSync(data, { recursive: true })
  const path: WritePath = { dir, data, prometheus: await startMetricsPrometheus(dir, data), lines: [] }
  try {
    await headAtNow(path.prometheus.url)
    await take(path)
    await forceCompaction(path.prometheus.url)
    const compacted = await compactionAfter(path.prometheus.url)
    await allVisible(path.prometheus.url, 60_000)
    report(path.lines, `${name}: ${compaction} ${compacted}, ${blockCount(data)} block folders, ${Math.round(diskBytes(data) / 1e6)} MB on disk, peak RSS ${mb(peakKb(path.prometheus.process.pid!))}`)
    return path.lines
  } finally {
    await path.prometheus.stop()
  }
}

const remoteWritePath = () =>
  measurePath('remote-write', 'remote write', 'the first head compaction (out-of-order samples become blocks)', async (path) => {
    const start = process.hrtime.bigint()
    for (let r = 0; r < repos; r++) {
      await createRemoteWriteSink(path.prometheus.url, { job: 'github', target: `owner-${r % 50}/repo-${r}` }, specs, { log }).write(repositoryHistory(r))
    }
    const wall = seconds(start)
    await allVisible(path.prometheus.url, 60_000)
    const ingestPeak = peakKb(path.prometheus.process.pid!)
    report(path.lines, `remote write: ${repos * names.length * days} samples in ${wall.toFixed(1)} s (${Math.round((repos * names.length * days) / wall)} samples/s), Prometheus peak RSS ${mb(ingestPeak)}`)

    await path.prometheus.stop()
    const restart = process.hrtime.bigint()
    path.prometheus = await startMetricsPrometheus(path.dir, path.data)
    await allVisible(path.prometheus.url, 120_000)
    report(path.lines, `remote write: restart (WAL and out-of-order WBL replayed) ready in ${seconds(restart).toFixed(1)} s, peak RSS ${mb(peakKb(path.prometheus.process.pid!))}`)
  })

function promtoolBlocks(file: string, out: string): { kb: number } {
  const promtool = requireBinary('promtool', 'prometheus')
  const run = spawnSync('/usr/bin/time', ['-f', '%M', promtool, 'tsdb', 'create-blocks-from', 'openmetrics', '--max-block-duration=744h', file, out], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (run.status !== 0) throw new Error(`promtool failed: ${run.stderr.slice(-500)}`)
  return { kb: Number(run.stderr.trim().split('\n').at(-1)) }
}

const blocksPath = () =>
  measurePath('blocks', 'blocks', 'compaction of the overlapping blocks', async (path) => {
    const start = process.hrtime.bigint()
    let promtoolPeak = 0
    let textBytes = 0
    for (let first = 0; first < repos; first += batchRepos) {
      const document = createOpenMetricsDocument()
      for (let r = first; r < Math.min(repos, first + batchRepos); r++) await document.sinkFor({ job: 'github', target: `owner-${r % 50}/repo-${r}` }, specs).write(repositoryHistory(r))
      const file = join(path.dir, 'batch.om')
      const text = document.finish()
      textBytes += text.length
      writeFileSync(file, text)
      const out = join(path.dir, `out-${first}`)
      promtoolPeak = Math.max(promtoolPeak, promtoolBlocks(file, out).kb)
      for (const block of readdirSync(out)) renameSync(join(out, block), join(path.data, block))
    }
    const made = seconds(start)
    let restarted = false
    try {
      await allVisible(path.prometheus.url, 150_000)
    } catch {
      // Blocks moved in while it runs are read at its next reload; a restart reads them at once.
      restarted = true
      await path.prometheus.stop()
      path.prometheus = await startMetricsPrometheus(path.dir, path.data)
      await allVisible(path.prometheus.url, 300_000)
    }
    const wall = seconds(start)
    report(
      path.lines,
      `blocks: ${repos * names.length * days} samples as ${Math.round(textBytes / 1e6)} MB of OpenMetrics in batches of ${batchRepos} repositories, promtool and moves ${made.toFixed(1)} s, visible after ${wall.toFixed(1)} s${restarted ? ' (needed a restart)' : ''}; promtool peak RSS ${mb(promtoolPeak)}, Prometheus peak RSS ${mb(peakKb(path.prometheus.process.pid!))}, ${blockCount(path.data)} blocks`,
    )
  })

try {
  console.log(`history of ${repos} repositories x ${days} days x ${names.length} series (${repos * days * names.length} samples), Prometheus ${spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}`)
  const only = process.env.HISTORY_BENCH_PATH
  let peakOk = true
  if (only !== 'blocks') {
    const lines = await remoteWritePath()
    // The target is on taking the history. A restart before the next head compaction replays every out-of-order
    // sample: its figure is what HISTORY_MAX_SAMPLES (one run's share) is sized by, printed, not judged here.
    const taking = /peak RSS (\d+) MB/.exec(lines[0] ?? '')
    peakOk = taking !== null && Number(taking[1]) * 1024 * 1024 < limitBytes
  }
  if (only !== 'remote-write') await blocksPath()
  console.log(`target: the metrics Prometheus takes the history by remote write under ${limitBytes / 1024 ** 3} GB: ${peakOk ? 'met' : 'MISSED'}`)
  process.exitCode = peakOk ? 0 : 1
} finally {
  work.remove()
}

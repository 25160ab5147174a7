// Start-up cost of a collector run: CPU time of the bundled `activity collect --stdout` against a local API, beside a bare `node -e 0`.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startDockerHubApi, hubNamespace } from '../support/dockerhub-api.ts'

const runs = Number(process.env.BENCH_RUNS ?? 20)
const cli = new URL('../../dist/collectors/runtime/cli.js', import.meta.url).pathname

/** CPU seconds (user + system) that `runs` runs of a command used, read from bash's `times` for its children. */
async function cpuSeconds(command: string, env: Record<string, string> = {}): Promise<number> {
  // Async: the local API answers from this process while the runs go on.
  const script = `for i in $(seq ${runs}); do ${command} >/dev/null 2>&1 || exit 1; done; times`
  const out = await promisify(execFile)('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, ...env } })
  const children = out.stdout.trim().split('\n')[1]!
  const [user, system] = children.split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t)!
    return Number(m[1]) * 60 + Number(m[2])
  })
  return (user! + system!) / runs
}

const api = await startDockerHubApi({ namespaces: { prom: hubNamespace('prom', 30) } })
try {
  const bare = await cpuSeconds(`${process.execPath} -e 0`)
  const dockerhub = await cpuSeconds(`${process.execPath} ${cli} collect dockerhub --target prom --stdout`, { DOCKERHUB_API_URL: api.url })
  const ratio = dockerhub / bare
  console.log(`startup: node -e 0 ${(bare * 1000).toFixed(1)} ms CPU; activity collect dockerhub --stdout ${(dockerhub * 1000).toFixed(1)} ms CPU; ratio ${ratio.toFixed(2)}x (target <= 2x; ${runs} runs each)`)
  process.exitCode = ratio <= 2 ? 0 : 1
} finally {
  await api.close()
}

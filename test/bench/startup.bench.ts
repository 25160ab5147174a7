// Start-up cost of a collector run: CPU time of the bundled `activity collect --stdout` against local APIs, beside a bare `node -e 0`.
// Printed for information only: the start-up CPU target (<= 2x node -e 0) is withdrawn (issue 15). A job that runs a few
// times an hour is judged on correctness, API cost and memory; meeting the target took V8 flags changed at run time
// (undefined behaviour in Node, and a fatal GC error for large owners) and a hand-written HTTP client instead of got.
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort, waitFor } from '../support/servers.ts'

const runs = Number(process.env.BENCH_RUNS ?? 20)
const root = new URL('../../', import.meta.url).pathname
const cli = `${root}dist/collectors/runtime/cli.js`

/** Mean CPU seconds (user + system) of one run of a command, from bash's `times` for its children. */
async function cpuSeconds(command: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `for i in $(seq ${runs}); do ${command} >/dev/null 2>&1 || exit 1; done; times`
  const out = await promisify(execFile)('bash', ['-c', script], { encoding: 'utf8', env })
  const [user, system] = out.stdout.trim().split('\n')[1]!.split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t)!
    return Number(m[1]) * 60 + Number(m[2])
  })
  return (user! + system!) / runs
}

// The fake APIs run in their own process, so their CPU is not counted with the collector's.
const port = await freePort()
const apis = spawn(process.execPath, ['--import', 'tsx', `${root}test/support/fake-apis.ts`, '--port', String(port)], { stdio: 'ignore' })
const api = `http://127.0.0.1:${port}`
try {
  await waitFor('the fake APIs', async () => (await fetch(`${api}/v2/namespaces/prom/repositories`)).ok, 30_000)
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKERHUB_API_URL: api, GITHUB_API_URL: api, GITHUB_TOKEN: 'bench-token' }
  // Where the environment names extra CA certificates (as this project's machines do, for the npm registry), every Node
  // process parses them at start-up, collector and `node -e 0` alike: the same figures without them are printed too.
  const { NODE_EXTRA_CA_CERTS: extraCerts, ...withoutCerts } = env
  const settings = [{ env, label: '' }, ...(extraCerts ? [{ env: withoutCerts, label: ` without NODE_EXTRA_CA_CERTS=${extraCerts}` }] : [])]
  for (const [index, { env: runEnv, label }] of settings.entries()) {
    const bare = await cpuSeconds(`${process.execPath} -e 0`, runEnv)
    for (const [source, target] of [['dockerhub', 'prom'], ['github', 'prometheus']] as const) {
      const cpu = await cpuSeconds(`${process.execPath} ${cli} collect ${source} --target ${target} --stdout`, runEnv)
      console.log(`startup${label}: activity collect ${source} --stdout ${(cpu * 1000).toFixed(1)} ms CPU, ${(cpu / bare).toFixed(2)}x node -e 0 (${(bare * 1000).toFixed(1)} ms)${index === 0 ? ' (no target: withdrawn)' : ''}; ${runs} runs`)
    }
  }
} finally {
  apis.kill()
}

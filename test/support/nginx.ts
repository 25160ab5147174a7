// Debian's nginx running the app stack's own nginx.conf, changed only where a test on this machine must.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nginxStreamModule } from '../../stacks/validate-configs.ts'
import { freePort, requireBinary, startProgram, type Started } from './servers.ts'

const appConf = new URL('../../stacks/app/nginx.conf', import.meta.url).pathname

/**
 * Starts nginx in `dir` on stacks/app/nginx.conf, listening on a free loopback port (the Swarm's is 8080) with its
 * syslog relay on another (127.0.0.1:5514 there); `adapt` makes the test's own changes (where Logstash is, the
 * resolver). Each of `expected` must be in the result, and no :5514 left: a conf that no longer has the lines a
 * test adapts fails here, naming them, rather than in the test.
 */
export async function startAppNginx(dir: string, adapt: (conf: string) => string, expected: string[]): Promise<Started> {
  const program = requireBinary('nginx', 'nginx')
  const modules = nginxStreamModule(program)
  const relayPort = await freePort()
  const conf = join(dir, 'nginx.conf')
  return startProgram(
    program,
    (port) => {
      const listen = `listen 127.0.0.1:${port} default_server;`
      const adapted = adapt(readFileSync(appConf, 'utf8').replace('listen 8080 default_server;', listen).replaceAll('127.0.0.1:5514', `127.0.0.1:${relayPort}`))
      const missing = [listen, ...expected].filter((line) => !adapted.includes(line))
      if (missing.length || adapted.includes(':5514')) {
        throw new Error(`stacks/app/nginx.conf no longer has the listen, relay and Logstash lines this test adapts (missing: ${missing.join(', ') || 'none'}; :5514 left: ${adapted.includes(':5514')})`)
      }
      writeFileSync(conf, adapted)
      return ['-p', dir + '/', '-c', conf, '-e', join(dir, 'error.log'), '-g', `${modules} daemon off; pid ${join(dir, 'nginx.pid')};`]
    },
    '/healthz',
  )
}

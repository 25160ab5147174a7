// Types for the two prom-client modules metrics.ts imports directly (prom-client only types its index).
declare module 'prom-client/lib/gauge.js' {
  import type { Gauge } from 'prom-client'
  const GaugeClass: typeof Gauge
  export default GaugeClass
}
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client'
  const RegistryClass: typeof Registry
  export default RegistryClass
}

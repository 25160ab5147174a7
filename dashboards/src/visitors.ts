// Website visitors: the nginx access log as Logstash indexes it (GeoIP, user agent), from the Elasticsearch datasource.
import { AdHocVariableBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard'
import {
  DataqueryBuilder,
  DateHistogramBuilder,
  FilterBuilder,
  FiltersBuilder,
  GeoHashGridBuilder,
  TermsBuilder,
  TermsOrder,
  type MetricAggregation,
} from '@grafana/grafana-foundation-sdk/elasticsearch'
import { bars, dashboard, datasource, finish, geomap, pie, redFrom, stat, table, timeseries, type PanelSpec } from './common.ts'

/** Every query is limited to the selected sites; the ad hoc filters (any field) apply on top. */
const sites = 'host:$host'
const timeField = '@timestamp'

/**
 * A metric aggregation as Grafana's Elasticsearch query editor saves it. Written here rather than with the SDK's
 * metric builders: those (11.6.0-cogv0.0.x) emit `"type": "unknown"`, their code generator lost the discriminator.
 */
interface Metric {
  type: 'count' | 'avg' | 'sum' | 'cardinality' | 'percentiles'
  field?: string
  settings?: { percents?: string[] }
}
type Bucket = DateHistogramBuilder | TermsBuilder | FiltersBuilder | GeoHashGridBuilder

function search(metrics: Metric[], buckets: Bucket[], query = sites): DataqueryBuilder {
  const aggregations = metrics.map((metric, index) => ({ build: (): MetricAggregation => ({ ...metric, id: String(index + 1) }) }))
  buckets.forEach((bucket, index) => bucket.id(String(metrics.length + index + 1)))
  return new DataqueryBuilder().datasource(datasource.elasticsearch).query(query).timeField(timeField).metrics(aggregations).bucketAggs(buckets)
}

const overTime = () => new DateHistogramBuilder().field(timeField).settings({ interval: 'auto', min_doc_count: '0', trimEdges: '0' })
const top = (field: string, size: number) => new TermsBuilder().field(field).settings({ size: String(size), order: TermsOrder.Desc, orderBy: '_count', min_doc_count: '1' })
const count = (): Metric => ({ type: 'count' })

const statusClasses = [
  ['2xx', 'status:[200 TO 299]'],
  ['3xx', 'status:[300 TO 399]'],
  ['4xx', 'status:[400 TO 499]'],
  ['5xx', 'status:[500 TO 599]'],
] as const
const byStatusClass = () => new FiltersBuilder().settings({ filters: statusClasses.map(([label, query]) => new FilterBuilder().label(label).query(`${sites} AND ${query}`).build()) })

const es = { source: datasource.elasticsearch }

function topList(title: string, field: string, what: string, extra: Partial<PanelSpec> = {}) {
  return bars({ ...es, title, description: `The ten most frequent ${what} in the selected range (terms on \`${field}\`).`, unit: 'short', rows: true, targets: [search([count()], [top(field, 10)])], ...extra })
}

function shares(title: string, field: string, what: string) {
  return pie({ ...es, title, description: `Requests by ${what} in the selected range (terms on \`${field}\`, top 10).`, unit: 'short', targets: [search([count()], [top(field, 10)])] })
}

export function visitors() {
  const board = dashboard({
    uid: 'activity-visitors',
    title: 'Website visitors',
    description: 'Who visits the website: requests, errors, countries, pages, referrers, browsers and systems, from the nginx access log (index nginx-access-*).',
    tags: ['website', 'nginx'],
    time: 'now-24h',
  })
    .withVariable(
      new QueryVariableBuilder('host')
        .label('Site')
        .description('Host names the website answered for (the `host` field).')
        .datasource(datasource.elasticsearch)
        .query(JSON.stringify({ find: 'terms', field: 'host' }))
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalCaseInsensitiveAsc)
        .multi(true)
        .includeAll(true)
        .allValue('*')
        .current({ selected: true, text: ['All'], value: ['$__all'] }),
    )
    .withVariable(new AdHocVariableBuilder('filters').label('Filters').description('Narrow every panel down by any field, e.g. geoip.country_iso_code = FR.').datasource(datasource.elasticsearch))

  board.withRow(new RowBuilder('Traffic'))
  board.withPanel(stat({ ...es, title: 'Requests', description: 'Requests in the selected range.', unit: 'short', reduce: 'sum', targets: [search([count()], [overTime()])] }))
  board.withPanel(
    stat({ ...es, title: 'Server errors', description: 'Responses with a 5xx status in the selected range.', unit: 'short', reduce: 'sum', steps: redFrom(1), targets: [search([count()], [overTime()], `${sites} AND status:[500 TO 599]`)] }),
  )
  board.withPanel(
    stat({ ...es, title: 'Daily visitors', description: 'Distinct client addresses per day (cardinality of `client_ip`), averaged over the days of the range.', unit: 'short', reduce: 'mean', targets: [search([{ type: 'cardinality', field: 'client_ip' }], [new DateHistogramBuilder().field(timeField).settings({ interval: '1d', min_doc_count: '0' })])] }),
  )
  board.withPanel(stat({ ...es, title: 'Data sent', description: 'Response bytes sent in the selected range (sum of `bytes`).', unit: 'bytes', reduce: 'sum', targets: [search([{ type: 'sum', field: 'bytes' }], [overTime()])] }))
  board.withPanel(
    timeseries({ ...es, title: 'Requests by status', description: 'Requests over time, stacked by status class (2xx ok, 3xx redirects, 4xx client errors, 5xx server errors).', unit: 'short', bars: true, stacking: 'normal', targets: [search([count()], [byStatusClass(), overTime()])] }),
  )
  board.withPanel(
    timeseries({
      ...es,
      title: 'Error rate',
      description: 'Share of each status class in the requests of each interval: the 4xx and 5xx bands are the error rate.',
      unit: 'percentunit',
      stacking: 'percent',
      targets: [search([count()], [byStatusClass(), overTime()])],
    }),
  )
  board.withPanel(
    timeseries({
      ...es,
      title: 'Response time',
      description: 'Median and 95th percentile of the time nginx took to answer (`request_time`, seconds).',
      unit: 's',
      targets: [search([{ type: 'percentiles', field: 'request_time', settings: { percents: ['50', '95'] } }], [overTime()])],
    }),
  )
  board.withPanel(bars({ ...es, title: 'Status codes', description: 'Requests per status code in the selected range (terms on `status`).', unit: 'short', rows: true, targets: [search([count()], [top('status', 20)])] }))

  board.withRow(new RowBuilder('Where visitors come from'))
  board.withPanel(
    geomap({ ...es, title: 'Visitors on the map', description: 'Requests per GeoIP location (geohash grid on `geoip.location`, precision 3, about 150 km): bigger markers, more requests.', field: 'geoip.location', targets: [search([count()], [new GeoHashGridBuilder().field('geoip.location').settings({ precision: '3' })])] }),
  )
  board.withPanel(topList('Top countries', 'geoip.country_name', 'visitor countries (GeoIP)', { w: 6, h: 14 }))
  board.withPanel(topList('Top cities', 'geoip.city_name', 'visitor cities (GeoIP)', { w: 6, h: 14 }))

  board.withRow(new RowBuilder('What they ask for'))
  board.withPanel(
    table({
      ...es,
      title: 'Top pages',
      description: 'The 20 most requested paths with their request count, mean response time and bytes sent.',
      w: 12,
      h: 10,
      keep: ['path'],
      columns: [{ title: 'Requests', unit: 'short' }, { title: 'Mean response time', unit: 's' }, { title: 'Bytes sent', unit: 'bytes' }],
      valueColumns: ['Count', 'Average request_time', 'Sum bytes'],
      targets: [search([count(), { type: 'avg', field: 'request_time' }, { type: 'sum', field: 'bytes' }], [top('path', 20)])],
    }),
  )
  board.withPanel(topList('Top referrers', 'referrer', 'referrers (pages that linked to the site; direct visits, which send none, left out)', { w: 12, h: 10, targets: [search([count()], [top('referrer', 10)], `${sites} AND referrer:?*`)] }))
  board.withPanel(shares('Methods', 'method', 'HTTP method'))
  board.withPanel(topList('Sites', 'host', 'host names asked for'))
  board.withPanel(topList('Top clients', 'client_ip', 'client addresses (crawlers and heavy users stand out)'))

  board.withRow(new RowBuilder('Who they are'))
  board.withPanel(shares('Browsers', 'user_agent.name', 'browser (user agent)'))
  board.withPanel(shares('Operating systems', 'user_agent.os.name', 'operating system (user agent)'))
  board.withPanel(shares('Devices', 'user_agent.device.name', 'device (user agent)'))
  board.withPanel(
    table({
      ...es,
      title: 'User agents',
      description: 'The 20 most frequent raw user-agent strings (`user_agent.original`): bots and unusual clients show up here.',
      w: 24,
      keep: ['user_agent.original'],
      columns: [{ title: 'Requests', unit: 'short' }],
      valueColumns: ['Count'],
      targets: [search([count()], [top('user_agent.original', 20)])],
    }),
  )
  return finish(board)
}

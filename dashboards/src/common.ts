// What every dashboard shares: the provisioned datasources, template variables, panel builders and the final touches.
import * as common from '@grafana/grafana-foundation-sdk/common'
import {
  DashboardBuilder,
  DashboardCursorSync,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DataSourceRef,
  type DataTransformerConfig,
  type Panel,
  type RowPanel,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard'
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog'
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge'
import { ControlsOptionsBuilder, PanelBuilder as GeomapPanel, MapViewConfigBuilder, TooltipMode as GeomapTooltipMode, TooltipOptionsBuilder as GeomapTooltipBuilder } from '@grafana/grafana-foundation-sdk/geomap'
import { PanelBuilder as PiePanel, PieChartLabels, PieChartLegendOptionsBuilder, PieChartLegendValues, PieChartType } from '@grafana/grafana-foundation-sdk/piechart'
import { DataqueryBuilder as PrometheusQuery, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline'
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'

/** The dashboard JSON model version Grafana 11.3 writes (its DashboardMigrator's latest step, v40: refresh is a string). */
export const schemaVersion = 40

/** The datasources the admin stack provisions (stacks/admin/grafana/datasources.yml), by uid. */
export const datasource = {
  /** The metrics stack's Prometheus: it scrapes the Pushgateway the collectors push to. */
  prometheus: { type: 'prometheus', uid: 'prometheus' },
  /** The monitoring stack's Prometheus: nodes, containers, the platform's own services, alerts. */
  monitoring: { type: 'prometheus', uid: 'monitoring' },
  /** Elasticsearch, index pattern nginx-access-*, time field @timestamp. */
  elasticsearch: { type: 'elasticsearch', uid: 'elasticsearch' },
} as const satisfies Record<string, DataSourceRef>

/** A panel that shows queries from more than one datasource; each query then names its own. */
export const mixed: DataSourceRef = { type: 'datasource', uid: '-- Mixed --' }

/** The Prometheus datasource the `datasource` variable selects. */
export const selected: DataSourceRef = { type: 'prometheus', uid: '${datasource}' }

/** Picks the Prometheus datasource; defaults to a provisioned one so the dashboard works as provisioned. */
export function datasourceVariable(defaultTo: DataSourceRef & { uid: string }): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus')
    .current({ selected: true, text: defaultTo.uid, value: defaultTo.uid })
}

export interface LabelVariable {
  name: string
  label: string
  /** The series whose label values are offered, with a selector on earlier variables (chained variables). */
  series: string
  description: string
  /** The label to list; defaults to the variable's name. */
  labelName?: string
  source?: DataSourceRef
}

/** A multi-value label variable (All by default) that lists label values seen in the dashboard's time range. */
export function labelVariable(spec: LabelVariable): QueryVariableBuilder {
  const query = `label_values(${spec.series}, ${spec.labelName ?? spec.name})`
  return new QueryVariableBuilder(spec.name)
    .label(spec.label)
    .description(spec.description)
    .datasource(spec.source ?? selected)
    .query({ qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' })
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalCaseInsensitiveAsc)
    .multi(true)
    .includeAll(true)
    .current({ selected: true, text: ['All'], value: ['$__all'] })
}

export interface PromQuery {
  expr: string
  legend?: string
  /** Evaluated once at the end of the range (stats, tables, top lists) instead of over it. */
  instant?: boolean
  /** Returned as a table (one row per series), for table panels. */
  table?: boolean
  /** For a mixed panel: the datasource of this query. */
  source?: DataSourceRef
}

/** A Prometheus query of the panel's datasource (or its own, in a mixed panel). */
export function prom(expr: string, options: Omit<PromQuery, 'expr'> = {}): PrometheusQuery {
  const query = new PrometheusQuery().expr(expr).datasource(options.source ?? selected)
  query.legendFormat(options.legend ?? '__auto')
  if (options.instant) query.instant()
  else query.range()
  if (options.table) query.format(PromQueryFormat.Table)
  return query
}

type Target = Builder<Dataquery> & { refId(refId: string): unknown }

/** Names the queries A, B, C... as Grafana does. */
function named(targets: Target[]): Target[] {
  targets.forEach((target, index) => target.refId(String.fromCharCode(65 + index)))
  return targets
}

export type Steps = [value: number | null, color: string][]

function thresholds(steps: Steps): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })))
}

/** Green until a value is reached, then red: for "0 is good" figures such as failures. */
export const redFrom = (value: number): Steps => [
  [null, 'green'],
  [value, 'red'],
]
/** Red below a value: for "1 is good" figures such as up or success. */
export const greenFrom = (value: number): Steps => [
  [null, 'red'],
  [value, 'green'],
]

/** 1 = ok / 0 = failed, as words and colours. */
export const okFailed: ValueMapping[] = [
  { type: MappingType.ValueToText, options: { '0': { text: 'failed', color: 'red', index: 0 }, '1': { text: 'ok', color: 'green', index: 1 } } },
]

export interface PanelSpec {
  title: string
  /** What the panel answers and where its numbers come from; shown as the panel's (i) tooltip. */
  description: string
  targets: Target[]
  unit?: string
  decimals?: number
  min?: number
  max?: number
  w?: number
  h?: number
  /** The panel's datasource; defaults to the `datasource` variable. */
  source?: DataSourceRef
  steps?: Steps
  mappings?: ValueMapping[]
  transformations?: DataTransformerConfig[]
}

function base<P extends StatPanel | TimeseriesPanel | TablePanel | BarGaugePanel | PiePanel | StateTimelinePanel | GeomapPanel>(panel: P, spec: PanelSpec): P {
  panel
    .title(spec.title)
    .description(spec.description)
    .datasource(spec.source ?? selected)
    .targets(named(spec.targets))
    .span(spec.w ?? 12)
    .height(spec.h ?? 8)
  if (spec.unit) panel.unit(spec.unit)
  if (spec.decimals !== undefined) panel.decimals(spec.decimals)
  if (spec.min !== undefined) panel.min(spec.min)
  if (spec.max !== undefined) panel.max(spec.max)
  if (spec.steps) panel.thresholds(thresholds(spec.steps))
  if (spec.mappings) panel.mappings(spec.mappings)
  if (spec.transformations) panel.transformations(spec.transformations)
  return panel
}

/** How a series becomes one number: its last value, or the sum or mean of its points (per-bucket counts). */
export type Reduce = 'lastNotNull' | 'sum' | 'mean'

const reduced = (calc: Reduce = 'lastNotNull', rows = false) => new common.ReduceDataOptionsBuilder().calcs([calc]).values(rows)

/** One big number per query (or per series): the current value, its sparkline over the range. */
export function stat(spec: PanelSpec & { sparkline?: boolean; colorBy?: 'value' | 'background'; reduce?: Reduce }): StatPanel {
  return base(new StatPanel(), { w: 6, h: 5, ...spec })
    .reduceOptions(reduced(spec.reduce))
    .graphMode(spec.sparkline ? common.BigValueGraphMode.Area : common.BigValueGraphMode.None)
    .colorMode(spec.colorBy === 'background' ? common.BigValueColorMode.Background : spec.steps ? common.BigValueColorMode.Value : common.BigValueColorMode.None)
    .textMode(common.BigValueTextMode.ValueAndName)
    .justifyMode(common.BigValueJustifyMode.Auto)
    .orientation(common.VizOrientation.Auto)
}

/** Lines (or stacked areas, or bars) over the dashboard's time range, with a table legend. */
export function timeseries(spec: PanelSpec & { stacking?: 'normal' | 'percent'; bars?: boolean }): TimeseriesPanel {
  const panel = base(new TimeseriesPanel(), spec)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
    .lineWidth(1)
    .fillOpacity(spec.stacking ? 60 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(true)
  if (spec.bars) panel.drawStyle(common.GraphDrawStyle.Bars).fillOpacity(80)
  if (spec.stacking) {
    panel.stacking(new common.StackingConfigBuilder().mode(spec.stacking === 'percent' ? common.StackingMode.Percent : common.StackingMode.Normal).group('A'))
  }
  if (spec.steps) panel.thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
  return panel
}

export interface Column {
  /** The header to show. */
  title: string
  unit?: string
  steps?: Steps
  mappings?: ValueMapping[]
}

/**
 * Instant queries merged into one table, one row per label set: `columns` maps each query's value column
 * (Value #A, Value #B, ...; or the `valueColumns` an Elasticsearch query names, e.g. Count) to a header and unit,
 * in the order given after the `keep` columns. Every query aggregates `by` the kept labels, so Time is the only other column.
 */
export function table(spec: PanelSpec & { keep: string[]; columns: Column[]; sortBy?: string; valueColumns?: string[] }): TablePanel {
  const renames: Record<string, string> = {}
  const order: Record<string, number> = {}
  spec.keep.forEach((label, index) => (order[label] = index))
  spec.columns.forEach((column, index) => {
    const value = spec.valueColumns?.[index] ?? (spec.targets.length === 1 ? 'Value' : `Value #${String.fromCharCode(65 + index)}`)
    renames[value] = column.title
    order[value] = spec.keep.length + index
  })
  const panel = base(new TablePanel(), {
    w: 24,
    h: 9,
    ...spec,
    transformations: [
      ...(spec.targets.length > 1 ? [{ id: 'merge', options: {} }] : []),
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true },
          indexByName: order,
          renameByName: renames,
        },
      },
      ...(spec.transformations ?? []),
    ],
  })
    .cellHeight(common.TableCellHeight.Sm)
    .showHeader(true)
    .filterable(true)
  spec.columns.forEach((column) => {
    const properties = [
      ...(column.unit ? [{ id: 'unit', value: column.unit }] : []),
      ...(column.steps ? [{ id: 'thresholds', value: thresholds(column.steps).build() }, { id: 'custom.cellOptions', value: { type: 'color-text' } }] : []),
      ...(column.mappings ? [{ id: 'mappings', value: column.mappings }] : []),
    ]
    if (properties.length) panel.overrideByName(column.title, properties)
  })
  if (spec.sortBy) panel.sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(true)])
  return panel
}

/** A table column with the instant query that fills it (aggregated `by` the table's `keep` labels). */
export interface QueryColumn extends Column {
  expr: string
}

/** A table whose every column is one instant Prometheus query: each column says its query beside its header and unit. */
export function queryTable(spec: Omit<PanelSpec, 'targets'> & { keep: string[]; columns: QueryColumn[]; sortBy?: string }): TablePanel {
  return table({
    ...spec,
    columns: spec.columns.map(({ expr: _expr, ...column }) => column),
    targets: spec.columns.map((column) => prom(column.expr, { instant: true, table: true })),
  })
}

/** Horizontal bars, one per series (or per table row with `rows`, e.g. Elasticsearch terms), largest first: for "top N" lists. */
export function bars(spec: PanelSpec & { rows?: boolean }): BarGaugePanel {
  return base(new BarGaugePanel(), { w: 8, h: 9, ...spec })
    .reduceOptions(reduced('lastNotNull', spec.rows))
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Basic)
    .valueMode(common.BarGaugeValueMode.Color)
    .namePlacement(common.BarGaugeNamePlacement.Top)
    .showUnfilled(true)
    .sizing(common.BarGaugeSizing.Auto)
}

/** Shares of a whole, e.g. requests by browser. */
export function pie(spec: PanelSpec): PiePanel {
  return base(new PiePanel(), { w: 8, h: 9, ...spec })
    .reduceOptions(reduced('lastNotNull', true))
    .pieType(PieChartType.Donut)
    .displayLabels([PieChartLabels.Percent])
    .legend(
      new PieChartLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Right)
        .values([PieChartLegendValues.Value, PieChartLegendValues.Percent]),
    )
}

/** Coloured bands over time, one row per series: for states such as ok/failed. */
export function states(spec: PanelSpec): StateTimelinePanel {
  return base(new StateTimelinePanel(), { w: 24, h: 8, ...spec })
    .showValue(common.VisibilityMode.Never)
    .mergeValues(true)
    .rowHeight(0.8)
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
}

/** A world map with one marker per geohash cell of `field`, sized and coloured by the request count. */
export function geomap(spec: PanelSpec & { field: string }): GeomapPanel {
  return base(new GeomapPanel(), { w: 12, h: 14, ...spec })
    .view(new MapViewConfigBuilder().id('zero').lat(20).lon(0).zoom(1))
    .controls(new ControlsOptionsBuilder().showZoom(true).mouseWheelZoom(true).showAttribution(true))
    .basemap(new common.MapLayerOptionsBuilder().type('default').name('Basemap'))
    .layers([
      new common.MapLayerOptionsBuilder()
        .type('markers')
        .name('Visitors')
        .location(new common.FrameGeometrySourceBuilder().mode(common.FrameGeometrySourceMode.Geohash).geohash(spec.field))
        .config({
          showLegend: true,
          style: {
            color: { field: 'Count', fixed: 'dark-green' },
            opacity: 0.5,
            size: { field: 'Count', fixed: 5, min: 3, max: 25 },
            symbol: { fixed: 'img/icons/marker/circle.svg', mode: 'fixed' },
          },
        })
        .tooltip(true),
    ])
    .tooltip(new GeomapTooltipBuilder().mode(GeomapTooltipMode.Details))
}

/** Links every dashboard to the others (same tag), keeping the time range and variables. */
function siblings(): DashboardLinkBuilder {
  return new DashboardLinkBuilder('Activity dashboards')
    .type(DashboardLinkType.Dashboards)
    .tags(['activity'])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true)
    .targetBlank(false)
    .icon('external link')
    .tooltip('')
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  tags: string[]
  time?: string
}

export function dashboard(spec: DashboardSpec): DashboardBuilder {
  return new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['activity', ...spec.tags])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: spec.time ?? 'now-7d', to: 'now' })
    .timezone('browser')
    .refresh('')
    .link(siblings())
}

/** Numbers the panels (rows included) top to bottom and stamps the schema version of Grafana 11.3. */
export function finish(builder: DashboardBuilder): Dashboard {
  const built = builder.build()
  let id = 0
  const number = (panel: Panel | RowPanel) => {
    panel.id = ++id
    if (panel.type === 'row') (panel as RowPanel).panels.forEach(number)
  }
  built.panels?.forEach(number)
  return { ...built, schemaVersion }
}

/** Prometheus' escaping is not needed here: label values come from the variables; this only builds selectors. */
export function selector(matchers: Record<string, string>): string {
  return `{${Object.entries(matchers)
    .map(([label, variable]) => `${label}=~"$${variable}"`)
    .join(', ')}}`
}

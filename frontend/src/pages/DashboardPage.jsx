// Dashboard: per day (the shop's time zone) what was sent, delivered, read, clicked, the orders
// and revenue; opt-ins and opt-outs; deferred and failed messages. 7, 30 or 90 days against the
// period before. Each chart has a table view with the same numbers. Per automation, the estimated
// cost of its messages (Meta's rate card) beside its revenue, and revenue per unit spent.
import { useMemo, useState } from "react";
import { BlockStack, Button, ButtonGroup, Card, DataTable, InlineGrid, InlineStack, Page, Select, Text } from "@shopify/polaris";
import { BarChart, LineChart, PolarisVizProvider } from "@shopify/polaris-viz";
import "@shopify/polaris-viz/build/esm/styles.css";
import { Loaded, formatMoney, formatNumber } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useLoad } from "../useApi.js";

const PERIODS = [7, 30, 90];
const FUNNEL = ["sent", "delivered", "read", "clicked", "orders"];

/** [{date, <group>, count|value}] → one series per group, each with a value on every date. */
function seriesBy(rows, dates, groupOf, valueOf, nameOf) {
  const groups = new Map();
  for (const row of rows) {
    const name = groupOf(row);
    if (!groups.has(name)) groups.set(name, new Map());
    const byDate = groups.get(name);
    byDate.set(row.date, (byDate.get(row.date) || 0) + valueOf(row));
  }
  return [...groups.entries()].map(([name, byDate]) => ({
    name: nameOf(name), data: dates.map((date) => ({ key: date, value: byDate.get(date) || 0 })),
  }));
}

function datesOf(...lists) {
  return [...new Set(lists.flat().map((row) => row.date))].sort();
}

/** A chart, or (toggled) the table of exactly the numbers it draws. */
function ChartCard({ id, title, series, kind, format }) {
  const { t, language } = useI18n();
  const [asTable, setAsTable] = useState(false);
  const dates = series.length ? series[0].data.map((point) => point.key) : [];
  const show = format || ((value) => formatNumber(value, language));
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingMd" id={`${id}-title`}>{title}</Text>
          <Button onClick={() => setAsTable(!asTable)} pressed={asTable} ariaControls={`${id}-body`}>
            {asTable ? t("dashboard.show_chart") : t("dashboard.show_table")}
          </Button>
        </InlineStack>
        <div id={`${id}-body`} data-testid={`${id}-${asTable ? "table" : "chart"}`}>
          {series.length === 0 ? (
            <Text as="p" tone="subdued">{t("dashboard.no_data")}</Text>
          ) : asTable ? (
            <DataTable columnContentTypes={["text", ...series.map(() => "numeric")]}
              headings={[t("dashboard.date"), ...series.map((one) => one.name)]}
              rows={dates.map((date, index) => [date, ...series.map((one) => show(one.data[index].value))])} />
          ) : (
            <div style={{ height: 260 }} role="img" aria-labelledby={`${id}-title`}>
              {kind === "bar" ? <BarChart data={series} theme="Light" /> : <LineChart data={series} theme="Light" />}
            </div>
          )}
        </div>
      </BlockStack>
    </Card>
  );
}

function change(now, before) {
  const a = Number(now), b = Number(before);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return Math.round(((a - b) / b) * 100);
}

function Totals({ data }) {
  const { t, language } = useI18n();
  const names = [...FUNNEL, "revenue", "recipients", "revenue_per_recipient"];
  const money = (name) => name === "revenue" || name === "revenue_per_recipient";
  return (
    <Card>
      <InlineGrid columns={{ xs: 2, md: 4 }} gap="300">
        {names.map((name) => {
          const value = data.totals[name];
          const previous = data.previous ? data.previous[name] : undefined;
          const delta = change(value, previous);
          return (
            <BlockStack key={name} gap="050">
              <Text as="p" tone="subdued">{t(`metrics.${name}`)}</Text>
              <Text as="p" variant="headingLg">
                {money(name) ? formatMoney(value, data.currency, language) : formatNumber(value, language)}
              </Text>
              <Text as="p" variant="bodySm" tone="subdued">
                {t("dashboard.previous", {
                  value: money(name) ? formatMoney(previous, data.currency, language) : formatNumber(previous, language),
                })}
                {delta !== null && ` (${delta > 0 ? "+" : ""}${delta} %)`}
              </Text>
            </BlockStack>
          );
        })}
      </InlineGrid>
    </Card>
  );
}

/** A cost: fractions of a cent per message, so up to four decimals. */
function formatCost(amount, currency, language) {
  const number = Number(amount);
  try {
    return number.toLocaleString(language, { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 4 });
  } catch {
    return `${amount} ${currency}`;
  }
}

function CostTable({ data }) {
  const { t, language } = useI18n();
  const card = data.cost;
  const rows = data.by_automation.map((row) => [
    t(`automations.names.${row.automation}`), formatNumber(row.sent, language),
    formatMoney(row.revenue, data.currency, language), formatCost(row.cost, card.currency, language),
    row.revenue_per_cost === null ? "–" : formatNumber(row.revenue_per_cost, language),
  ]);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">{t("dashboard.cost_title")}</Text>
        {rows.length === 0 ? <Text as="p" tone="subdued">{t("dashboard.no_data")}</Text> : (
          <DataTable columnContentTypes={["text", "numeric", "numeric", "numeric", "numeric"]}
            headings={[t("dashboard.automation"), t("metrics.sent"), t("metrics.revenue"), t("metrics.cost"),
              t("metrics.revenue_per_cost", { currency: card.currency })]} rows={rows} />
        )}
        <Text as="p" variant="bodySm" tone="subdued">
          {t("dashboard.cost_estimate", { version: card.version, as_of: card.as_of, currency: card.currency })}
        </Text>
      </BlockStack>
    </Card>
  );
}

export default function DashboardPage() {
  const { t, language } = useI18n();
  const [days, setDays] = useState(30);
  const [automation, setAutomation] = useState("");
  const query = `/dashboard?days=${days}${automation ? `&automation=${encodeURIComponent(automation)}` : ""}`;
  const dashboard = useLoad(query);
  return (
    <Page title={t("dashboard.title")}>
      <BlockStack gap="400">
        <InlineStack gap="300" blockAlign="end">
          <ButtonGroup variant="segmented">
            {PERIODS.map((period) => (
              <Button key={period} pressed={days === period} onClick={() => setDays(period)}>
                {t("dashboard.days", { days: period })}
              </Button>
            ))}
          </ButtonGroup>
          <Select label={t("dashboard.automation")} value={automation} onChange={setAutomation}
            options={[{ label: t("dashboard.all"), value: "" },
              ...((dashboard.data && dashboard.data.automations) || []).map((name) => ({ label: t(`automations.names.${name}`), value: name }))]} />
        </InlineStack>
        <Loaded load={dashboard}>
          {(data) => <PolarisVizProvider><Charts data={data} language={language} t={t} /></PolarisVizProvider>}
        </Loaded>
      </BlockStack>
    </Page>
  );
}

function Charts({ data, language, t }) {
  const charts = useMemo(() => {
    const dates = datesOf(data.series);
    const total = (name) => ({
      name: t(`metrics.${name}`),
      data: dates.map((date) => ({ key: date, value: data.series.filter((row) => row.date === date)
        .reduce((sum, row) => sum + Number(row[name] || 0), 0) })),
    });
    const revenue = seriesBy(data.series, dates, (row) => row.automation, (row) => Number(row.revenue || 0),
      (name) => t(`automations.names.${name}`));
    const consentDates = datesOf(data.optins, data.optouts);
    const consent = [
      ...seriesBy(data.optins, consentDates, (row) => row.source, (row) => row.count, (name) => t("dashboard.optins_from", { source: name })),
      ...seriesBy(data.optouts, consentDates, () => "optouts", (row) => row.count, () => t("dashboard.optouts")),
    ];
    const troubleDates = datesOf(data.deferred, data.failed);
    const trouble = [
      ...seriesBy(data.deferred, troubleDates, (row) => row.reason, (row) => row.count, (name) => t("dashboard.deferred_by", { reason: name })),
      ...seriesBy(data.failed, troubleDates, (row) => row.error, (row) => row.count, (name) => t("dashboard.failed_by", { error: name })),
    ];
    return { funnel: dates.length ? FUNNEL.map(total) : [], revenue, consent, trouble };
  }, [data, t]);
  return (
    <BlockStack gap="400">
      <Text as="p" tone="subdued">{t("dashboard.time_zone", { zone: data.time_zone })}</Text>
      <Totals data={data} />
      <CostTable data={data} />
      <ChartCard id="chart-messages" title={t("dashboard.messages")} series={charts.funnel} kind="line" />
      <ChartCard id="chart-revenue" title={t("dashboard.revenue")} series={charts.revenue} kind="bar"
        format={(value) => formatMoney(value, data.currency, language)} />
      <ChartCard id="chart-consent" title={t("dashboard.consent")} series={charts.consent} kind="bar" />
      <ChartCard id="chart-trouble" title={t("dashboard.trouble")} series={charts.trouble} kind="bar" />
    </BlockStack>
  );
}

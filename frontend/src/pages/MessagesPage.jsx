// Messages: the outbox with filters (automation, status, dates) and why each deferred or
// suppressed message waits; CSV exports (per message, attribution) downloaded with the token.
import { useState } from "react";
import { BlockStack, Button, Card, DataTable, InlineStack, Page, Select, Text, TextField } from "@shopify/polaris";
import { ErrorBanner, Loaded, formatDateTime } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

const AUTOMATIONS = ["", "order_confirmation", "cod_confirmation", "shipping_updates", "abandoned_cart", "back_in_stock",
  "review_request"];
const STATUSES = ["", "pending", "deferred", "suppressed", "sent", "delivered", "read", "failed"];

function queryOf(filters) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export default function MessagesPage() {
  const { t, language } = useI18n();
  const api = useApi();
  const [filters, setFilters] = useState({ automation: "", status: "", since: "", until: "" });
  const [applied, setApplied] = useState(filters);
  const messages = useLoad(`/messages${queryOf(applied)}`);
  const [download, setDownload] = useState({ busy: null, error: null });
  const set = (key) => (value) => setFilters({ ...filters, [key]: value });
  const fetchFile = async (which, path, name) => {
    setDownload({ busy: which, error: null });
    try {
      await api.download(path, name);
      setDownload({ busy: null, error: null });
    } catch (error) {
      setDownload({ busy: null, error });
    }
  };
  return (
    <Page title={t("messages.title")}>
      <BlockStack gap="400">
        <form onSubmit={(event) => { event.preventDefault(); setApplied(filters); }} aria-label={t("messages.filters")}>
          <InlineStack gap="200" blockAlign="end">
            <Select label={t("messages.automation")} value={filters.automation} onChange={set("automation")}
              options={AUTOMATIONS.map((name) => ({ value: name, label: name ? t(`automations.names.${name}`) : t("messages.any") }))} />
            <Select label={t("messages.status")} value={filters.status} onChange={set("status")}
              options={STATUSES.map((name) => ({ value: name, label: name ? t(`messages.statuses.${name}`) : t("messages.any") }))} />
            <TextField label={t("messages.since")} type="date" value={filters.since} onChange={set("since")} autoComplete="off" />
            <TextField label={t("messages.until")} type="date" value={filters.until} onChange={set("until")} autoComplete="off" />
            <Button submit>{t("messages.apply")}</Button>
          </InlineStack>
        </form>
        <InlineStack gap="200">
          <Button loading={download.busy === "messages"}
            onClick={() => fetchFile("messages", `/messages.csv${queryOf(applied)}`, "messages.csv")}>
            {t("messages.export_csv")}
          </Button>
          <Button loading={download.busy === "attribution"}
            onClick={() => fetchFile("attribution", `/attribution.csv${queryOf({ since: applied.since, until: applied.until })}`, "attribution.csv")}>
            {t("messages.export_attribution")}
          </Button>
        </InlineStack>
        <ErrorBanner error={download.error} onDismiss={() => setDownload({ busy: null, error: null })} />
        <Loaded load={messages}>
          {(data) => (
            <Card>
              {data.messages.length === 0 ? <Text as="p" tone="subdued">{t("messages.none")}</Text> : (
                <DataTable columnContentTypes={["text", "text", "text", "text", "text", "text"]}
                  headings={[t("messages.phone"), t("messages.automation"), t("messages.template"), t("messages.status"),
                    t("messages.reason"), t("messages.when")]}
                  rows={data.messages.map((message) => [message.phone, message.automation, message.template,
                    message.status, message.reason || message.error || "",
                    formatDateTime(message.sent_at || message.due_at, language)])} />
              )}
            </Card>
          )}
        </Loaded>
      </BlockStack>
    </Page>
  );
}

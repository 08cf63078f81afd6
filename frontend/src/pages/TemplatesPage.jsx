// Templates: the catalogue per language with Meta's approval status and reasons; a sync button.
import { useState } from "react";
import { Badge, Banner, BlockStack, Button, Card, DataTable, InlineStack, Page, Text } from "@shopify/polaris";
import { ErrorBanner, Loaded, formatDateTime } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

const TONES = { APPROVED: "success", REJECTED: "critical", PENDING: "attention" };

export default function TemplatesPage() {
  const { t, language } = useI18n();
  const api = useApi();
  const templates = useLoad("/templates");
  const [sync, setSync] = useState({ busy: false, queued: false, error: null });
  const start = async () => {
    setSync({ busy: true, queued: false, error: null });
    try {
      await api.json("/templates/sync", { method: "POST" });
      setSync({ busy: false, queued: true, error: null });
    } catch (error) {
      setSync({ busy: false, queued: false, error });
    }
  };
  return (
    <Page title={t("templates.title")}
      primaryAction={<Button variant="primary" onClick={start} loading={sync.busy}>{t("templates.sync")}</Button>}>
      <BlockStack gap="400">
        {sync.queued && <Banner tone="success" title={t("templates.sync_queued")} onDismiss={() => setSync({ ...sync, queued: false })} />}
        <ErrorBanner error={sync.error} onDismiss={() => setSync({ ...sync, error: null })} />
        <Loaded load={templates}>
          {(data) => (
            <Card>
              <BlockStack gap="300">
                <Text as="p" tone="subdued">
                  {data.last_sync_at ? t("templates.last_sync", { at: formatDateTime(data.last_sync_at, language) }) : t("templates.never_synced")}
                </Text>
                <DataTable columnContentTypes={["text", "text", "text", "text"]}
                  headings={[t("templates.name"), t("templates.category"), t("templates.language"), t("templates.status")]}
                  rows={data.templates.flatMap((template) => template.languages.map((one) => [
                    template.name, template.category, one.language,
                    <InlineStack key="status" gap="200">
                      <Badge tone={TONES[String(one.status).toUpperCase()]}>{one.status}</Badge>
                      {one.rejected_reason && <Text as="span" tone="critical">{one.rejected_reason}</Text>}
                    </InlineStack>,
                  ]))} />
              </BlockStack>
            </Card>
          )}
        </Loaded>
      </BlockStack>
    </Page>
  );
}

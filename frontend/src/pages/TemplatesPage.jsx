// Templates: the catalogue and the shop's own per language with Meta's approval status and
// reasons; a sync button; "New template" and "Edit" open the editor of the shop's own.
import { useState } from "react";
import { Badge, Banner, BlockStack, Button, Card, DataTable, InlineStack, Page, Text } from "@shopify/polaris";
import { ErrorBanner, Loaded, formatDateTime } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";
import TemplateEditor, { formOf } from "./TemplateEditor.jsx";

const TONES = { APPROVED: "success", REJECTED: "critical", PENDING: "attention" };

export default function TemplatesPage() {
  const [editor, setEditor] = useState(null); // null: the list; {}: a new template; {name, form}: an edit
  const [round, setRound] = useState(0);
  const api = useApi();
  const [opening, setOpening] = useState({ name: null, error: null });
  const open = async (name) => {
    setOpening({ name, error: null });
    try {
      const data = await api.get(`/templates/${encodeURIComponent(name)}`);
      setOpening({ name: null, error: null });
      setEditor({ name, form: formOf(data.definition) });
    } catch (error) {
      setOpening({ name: null, error });
    }
  };
  if (editor) {
    return (
      <TemplateEditor initial={editor.form} editing={editor.name}
        onBack={() => { setEditor(null); setRound((n) => n + 1); }}
        onSaved={(answer) => setEditor({ name: answer.template.name, form: formOf(answer.template.definition) })} />
    );
  }
  return <TemplateList key={round} onNew={() => setEditor({})} onEdit={open} opening={opening}
    onDismiss={() => setOpening({ name: null, error: null })} />;
}

function TemplateList({ onNew, onEdit, opening, onDismiss }) {
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
      primaryAction={<Button variant="primary" onClick={onNew}>{t("templates.new")}</Button>}
      secondaryActions={<Button onClick={start} loading={sync.busy}>{t("templates.sync")}</Button>}>
      <BlockStack gap="400">
        <ErrorBanner error={opening.error} onDismiss={onDismiss} />
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
                  rows={data.templates.flatMap((template) => template.languages.map((one, index) => [
                    template.source === "shop" && index === 0
                      ? <InlineStack key="name" gap="200" blockAlign="center">
                        <Text as="span">{template.name}</Text>
                        <Button variant="plain" onClick={() => onEdit(template.name)} loading={opening.name === template.name}
                          accessibilityLabel={t("templates.edit_named", { name: template.name })}>{t("templates.edit")}</Button>
                      </InlineStack>
                      : template.name,
                    template.category, one.language,
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

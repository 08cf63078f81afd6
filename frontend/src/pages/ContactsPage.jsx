// Contacts: search by phone, e-mail or name; one contact's consent ledger (with its proof),
// conversation and messages; an export downloaded with the token; forget, after confirmation.
import { useState } from "react";
import { Banner, BlockStack, Button, Card, DataTable, InlineStack, Modal, Page, Text, TextField } from "@shopify/polaris";
import { ErrorBanner, Loaded, formatDateTime } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

function ForgetModal({ contact, open, onClose, onForgotten }) {
  const { t } = useI18n();
  const api = useApi();
  const [typed, setTyped] = useState("");
  const [state, setState] = useState({ busy: false, error: null });
  const forget = async () => {
    setState({ busy: true, error: null });
    try {
      await api.json(`/contacts/${contact.id}/forget`, { method: "POST", body: { confirm: typed } });
      setState({ busy: false, error: null });
      onForgotten();
    } catch (error) {
      setState({ busy: false, error });
    }
  };
  return (
    <Modal open={open} onClose={onClose} title={t("contacts.forget_title")}
      primaryAction={{ content: t("contacts.forget"), destructive: true, onAction: forget, loading: state.busy,
        disabled: !typed.trim() }}
      secondaryActions={[{ content: t("common.cancel"), onAction: onClose }]}>
      <Modal.Section>
        <BlockStack gap="300">
          <Text as="p">{t("contacts.forget_explained")}</Text>
          {state.error && state.error.status === 422
            ? <Banner tone="critical" title={t("contacts.forget_mismatch")} />
            : <ErrorBanner error={state.error} />}
          <TextField label={t("contacts.forget_confirm", { phone: contact.phone })} value={typed} onChange={setTyped}
            autoComplete="off" />
        </BlockStack>
      </Modal.Section>
    </Modal>
  );
}

function ContactDetail({ id, onBack }) {
  const { t, language } = useI18n();
  const api = useApi();
  const detail = useLoad(`/contacts/${id}`);
  const [forgetting, setForgetting] = useState(false);
  const [forgotten, setForgotten] = useState(false);
  const [exportState, setExportState] = useState({ busy: false, error: null });
  const download = async () => {
    setExportState({ busy: true, error: null });
    try {
      const { data } = await api.json(`/contacts/${id}/export`, { method: "POST" });
      await api.download(data.export.download, `customer-export-${data.export.id}.json`);
      setExportState({ busy: false, error: null });
    } catch (error) {
      setExportState({ busy: false, error });
    }
  };
  return (
    <BlockStack gap="400">
      <InlineStack><Button onClick={onBack}>{t("contacts.back")}</Button></InlineStack>
      {forgotten && <Banner tone="success" title={t("contacts.forgotten")} />}
      <Loaded load={detail}>
        {(data) => (
          <BlockStack gap="400">
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd">{data.contact.name || data.contact.phone}</Text>
                <Text as="p">{data.contact.phone} {data.contact.email ? `· ${data.contact.email}` : ""}</Text>
                <ErrorBanner error={exportState.error} />
                <InlineStack gap="200">
                  <Button onClick={download} loading={exportState.busy}>{t("contacts.export")}</Button>
                  <Button tone="critical" onClick={() => setForgetting(true)} disabled={forgotten}>{t("contacts.forget")}</Button>
                </InlineStack>
              </BlockStack>
            </Card>
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd">{t("contacts.consent")}</Text>
                <DataTable columnContentTypes={["text", "text", "text", "text", "text"]}
                  headings={[t("contacts.at"), t("contacts.action"), t("contacts.source"), t("contacts.text"), t("contacts.evidence")]}
                  rows={data.consent.map((entry) => [formatDateTime(entry.at, language), entry.action, entry.source,
                    entry.text || "", typeof entry.evidence === "string" ? entry.evidence : JSON.stringify(entry.evidence ?? "")])} />
              </BlockStack>
            </Card>
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd">{t("contacts.conversation")}</Text>
                <DataTable columnContentTypes={["text", "text", "text", "text"]}
                  headings={[t("contacts.at"), t("contacts.direction"), t("contacts.kind"), t("contacts.text")]}
                  rows={data.conversation.map((entry) => [formatDateTime(entry.at, language), entry.direction, entry.kind, entry.text || ""])} />
              </BlockStack>
            </Card>
            <Card>
              <BlockStack gap="200">
                <Text as="h2" variant="headingMd">{t("contacts.messages")}</Text>
                <DataTable columnContentTypes={["text", "text", "text", "text", "text"]}
                  headings={[t("contacts.at"), t("messages.automation"), t("messages.template"), t("messages.status"), t("messages.reason")]}
                  rows={data.messages.map((entry) => [formatDateTime(entry.at, language), entry.automation, entry.template,
                    entry.status, entry.reason || ""])} />
              </BlockStack>
            </Card>
            {forgetting && (
              <ForgetModal contact={data.contact} open={forgetting} onClose={() => setForgetting(false)}
                onForgotten={() => { setForgetting(false); setForgotten(true); }} />
            )}
          </BlockStack>
        )}
      </Loaded>
    </BlockStack>
  );
}

/** The customer data exports made so far (Shopify data requests, `connector contacts export`). */
function DataExports() {
  const { t, language } = useI18n();
  const api = useApi();
  const exports = useLoad("/data-exports");
  const [state, setState] = useState({ busy: null, error: null });
  const download = async (item) => {
    setState({ busy: item.id, error: null });
    try {
      await api.download(`/data-exports/${item.id}`, `customer-export-${item.id}.json`);
      setState({ busy: null, error: null });
    } catch (error) {
      setState({ busy: null, error });
    }
  };
  return (
    <section aria-labelledby="data-exports-title">
    <Card>
      <BlockStack gap="200">
        <Text as="h2" variant="headingMd" id="data-exports-title">{t("contacts.exports")}</Text>
        <ErrorBanner error={state.error} onDismiss={() => setState({ busy: null, error: null })} />
        <Loaded load={exports}>
          {(data) => data.exports.length === 0 ? <Text as="p" tone="subdued">{t("contacts.no_exports")}</Text> : (
            <ul style={{ listStyle: "none", padding: 0, margin: 0 }}>
              {data.exports.map((item) => (
                <li key={item.id} style={{ marginBottom: 4 }}>
                  <Button variant="plain" loading={state.busy === item.id} onClick={() => download(item)}>
                    {t("contacts.download_export", { ref: item.request_ref || `#${item.id}`,
                      at: formatDateTime(item.created_at, language) })}
                  </Button>
                </li>
              ))}
            </ul>
          )}
        </Loaded>
      </BlockStack>
    </Card>
    </section>
  );
}

export default function ContactsPage() {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  const [selected, setSelected] = useState(null);
  const contacts = useLoad(`/contacts?q=${encodeURIComponent(query)}`);
  return (
    <Page title={t("contacts.title")}>
      {selected ? (
        <ContactDetail id={selected} onBack={() => setSelected(null)} />
      ) : (
        <BlockStack gap="400">
          <form role="search" onSubmit={(event) => { event.preventDefault(); setQuery(text); }}>
            <InlineStack gap="200" blockAlign="end">
              <TextField label={t("contacts.search")} value={text} onChange={setText} autoComplete="off"
                placeholder={t("contacts.search_hint")} />
              <Button submit>{t("contacts.search_button")}</Button>
            </InlineStack>
          </form>
          <Loaded load={contacts}>
            {(data) => (
              <Card>
                {data.contacts.length === 0 ? <Text as="p" tone="subdued">{t("contacts.none")}</Text> : (
                  <DataTable columnContentTypes={["text", "text", "text", "text", "text"]}
                    headings={[t("contacts.name"), t("contacts.phone"), t("contacts.email"), t("contacts.consent_now"), ""]}
                    rows={data.contacts.map((contact) => [contact.name || "", contact.phone, contact.email || "",
                      contact.marketing_consent ? t("contacts.opted_in") : t("contacts.not_opted_in"),
                      <Button key="open" variant="plain" onClick={() => setSelected(contact.id)}
                        accessibilityLabel={t("contacts.open_named", { name: contact.name || contact.phone })}>
                        {t("contacts.open")}
                      </Button>])} />
                )}
              </Card>
            )}
          </Loaded>
          <DataExports />
        </BlockStack>
      )}
    </Page>
  );
}

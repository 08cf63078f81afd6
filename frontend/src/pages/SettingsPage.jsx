// Settings: the form built from GET /settings (and /settings/schema when the server has it),
// saved by a merge patch with If-Match; the save bar is App Bridge's inside Shopify, Polaris's
// elsewhere; 422 messages appear at their fields; the change history below.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Banner, BlockStack, Card, ContextualSaveBar, FormLayout, Layout, Page, Text } from "@shopify/polaris";
import { ApiError } from "../api.js";
import { ErrorBanner, Loading, formatDateTime } from "../components/common.jsx";
import SettingField from "../components/SettingField.jsx";
import { useI18n } from "../i18n/index.js";
import { formSections, getAt, mergePatch, placeErrors, schemaFieldsOf, setAt } from "../settings-form.js";
import { useApi, useLoad } from "../useApi.js";

const SAVE_BAR_ID = "wcc-settings-save-bar";
const PATCH_TYPE = "application/merge-patch+json";

function useSettings() {
  const api = useApi();
  const [state, setState] = useState({ settings: null, etag: null, error: null });
  const load = useCallback(async () => {
    try {
      const { data, response } = await api.json("/settings");
      setState({ settings: data, etag: response.headers.get("ETag"), error: null });
    } catch (error) {
      setState({ settings: null, etag: null, error });
    }
  }, [api]);
  useEffect(() => { load(); }, [load]);
  return [state, setState, load];
}

/** App Bridge's save bar: shown by `shopify.saveBar` while the form has changes. */
function AppBridgeSaveBar({ dirty, saving, onSave, onDiscard, t }) {
  useEffect(() => {
    const bar = window.shopify && window.shopify.saveBar;
    if (!bar) return;
    if (dirty) bar.show(SAVE_BAR_ID);
    else bar.hide(SAVE_BAR_ID);
  }, [dirty]);
  useEffect(() => () => window.shopify?.saveBar?.hide(SAVE_BAR_ID), []);
  return (
    <ui-save-bar id={SAVE_BAR_ID} data-dirty={dirty ? "true" : "false"}>
      <button type="button" variant="primary" onClick={onSave} loading={saving ? "" : undefined} disabled={saving}>
        {t("common.save")}
      </button>
      <button type="button" onClick={onDiscard} disabled={saving}>{t("common.discard")}</button>
    </ui-save-bar>
  );
}

function History({ reloadKey }) {
  const { t, language } = useI18n();
  const history = useLoad("/settings/history?limit=20");
  const { reload } = history;
  const seen = useRef(reloadKey);
  useEffect(() => {
    if (seen.current !== reloadKey) { seen.current = reloadKey; reload(); }
  }, [reloadKey, reload]);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">{t("settings.history")}</Text>
        {history.error && <ErrorBanner error={history.error} />}
        {history.loading && <Loading />}
        {history.data && history.data.history.length === 0 && <Text as="p" tone="subdued">{t("settings.no_history")}</Text>}
        {history.data && (
          <ul className="wcc-history" aria-label={t("settings.history")}>
            {history.data.history.map((entry) => (
              <li key={entry.id}>
                <Text as="p" variant="bodySm" tone="subdued">
                  {formatDateTime(entry.changed_at, language)} · {entry.changed_by || t("settings.someone")}
                </Text>
                {entry.changes.map((change) => (
                  <Text as="p" key={change.path}>
                    <code>{change.path}</code>: {JSON.stringify(change.before)} → {JSON.stringify(change.after)}
                  </Text>
                ))}
              </li>
            ))}
          </ul>
        )}
      </BlockStack>
    </Card>
  );
}

function WhatsAppCard() {
  const { t } = useI18n();
  const shop = useLoad("/shop");
  const whatsapp = useLoad("/whatsapp"); // a newer route: without it the card shows what /shop has
  const number = whatsapp.data;
  const account = shop.data && shop.data.whatsapp;
  return (
    <Card>
      <BlockStack gap="200">
        <Text as="h2" variant="headingMd">{t("settings.whatsapp")}</Text>
        {shop.error && <ErrorBanner error={shop.error} />}
        {account && (
          <Text as="p">
            {account.connected
              ? t("settings.whatsapp_connected", { number: (number && number.display_phone_number) || account.phone_number_id })
              : t("settings.whatsapp_not_connected")}
          </Text>
        )}
        {number && number.token && <Text as="p" tone="subdued">{t("settings.whatsapp_token", { token: number.token })}</Text>}
        {account && account.messaging_limit && <Text as="p" tone="subdued">{t("settings.messaging_limit", { limit: account.messaging_limit })}</Text>}
      </BlockStack>
    </Card>
  );
}

export default function SettingsPage({ embedded }) {
  const { t } = useI18n();
  const api = useApi();
  const [state, setState, reload] = useSettings();
  const schema = useLoad("/settings/schema");
  const [draft, setDraft] = useState(null);
  const [version, setVersion] = useState(0); // remounts the inputs on load and discard
  const [errors, setErrors] = useState({ placed: {}, unplaced: [] });
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState(null);
  const [failure, setFailure] = useState(null);

  useEffect(() => {
    if (state.settings) { setDraft(state.settings); setVersion((n) => n + 1); }
  }, [state.settings]);

  const sections = useMemo(
    () => (state.settings ? formSections(state.settings, schemaFieldsOf(schema.data)) : []),
    [state.settings, schema.data]);
  const paths = useMemo(() => sections.flatMap((section) => section.fields.map((field) => field.path)), [sections]);
  const patch = useMemo(() => (draft && state.settings ? mergePatch(state.settings, draft) : {}), [draft, state.settings]);
  const dirty = Object.keys(patch).length > 0;

  const discard = useCallback(() => {
    setDraft(state.settings);
    setErrors({ placed: {}, unplaced: [] });
    setVersion((n) => n + 1);
  }, [state.settings]);

  const save = useCallback(async () => {
    if (!dirty || saving) return;
    setSaving(true);
    setNotice(null);
    setFailure(null);
    try {
      const headers = state.etag ? { "If-Match": state.etag } : {};
      const { data, response } = await api.json("/settings", { method: "PATCH", body: patch, headers, contentType: PATCH_TYPE });
      setErrors({ placed: {}, unplaced: [] });
      setState({ settings: data, etag: response.headers.get("ETag"), error: null });
      setNotice("saved");
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.body && error.body.errors) {
        setErrors(placeErrors(error.body.errors, paths));
        setFailure("invalid");
      } else if (error instanceof ApiError && error.status === 412) {
        setFailure("stale");
      } else {
        setFailure(error);
      }
    } finally {
      setSaving(false);
    }
  }, [api, dirty, saving, patch, paths, state.etag, setState]);

  if (state.error) return <Page title={t("nav.settings")}><ErrorBanner error={state.error} /></Page>;
  if (!draft) return <Page title={t("nav.settings")}><Loading /></Page>;

  return (
    <Page title={t("nav.settings")}>
      {embedded === "shopify" ? (
        <AppBridgeSaveBar dirty={dirty} saving={saving} onSave={save} onDiscard={discard} t={t} />
      ) : (
        dirty && (
          <ContextualSaveBar message={t("settings.unsaved")}
            saveAction={{ content: t("common.save"), onAction: save, loading: saving }}
            discardAction={{ content: t("common.discard"), onAction: discard }} />
        )
      )}
      <BlockStack gap="400">
        {notice === "saved" && (
          <Banner tone="success" title={t("settings.saved")} onDismiss={() => setNotice(null)} />
        )}
        {failure === "invalid" && (
          <Banner tone="critical" title={t("settings.invalid")}>
            {errors.unplaced.length > 0 && <ul>{errors.unplaced.map((line) => <li key={line}>{line}</li>)}</ul>}
          </Banner>
        )}
        {failure === "stale" && (
          <Banner tone="warning" title={t("settings.stale")} action={{ content: t("settings.reload"), onAction: reload }} />
        )}
        {failure && typeof failure === "object" && <ErrorBanner error={failure} onDismiss={() => setFailure(null)} />}
        {schema.error && schema.error.status !== 404 && <ErrorBanner error={schema.error} />}
        <Layout>
          <Layout.Section>
            <form onSubmit={(event) => { event.preventDefault(); save(); }} aria-label={t("nav.settings")}>
              <BlockStack gap="400">
                <WhatsAppCard />
                {sections.map((section) => (
                  <Card key={section.key}>
                    <BlockStack gap="300">
                      <Text as="h2" variant="headingMd">{t(`settings.sections.${section.key}`)}</Text>
                      <FormLayout>
                        {section.fields.map((field) => (
                          <SettingField key={`${field.path}-${version}`} field={field} value={getAt(draft, field.path)}
                            error={errors.placed[field.path] ? errors.placed[field.path].join(" ") : undefined}
                            onChange={(value) => setDraft((current) => setAt(current, field.path, value))} />
                        ))}
                      </FormLayout>
                    </BlockStack>
                  </Card>
                ))}
              </BlockStack>
            </form>
          </Layout.Section>
          <Layout.Section variant="oneThird">
            <History reloadKey={state.etag || ""} />
          </Layout.Section>
        </Layout>
      </BlockStack>
    </Page>
  );
}

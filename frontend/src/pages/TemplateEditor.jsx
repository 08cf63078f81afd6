// The editor of a shop's own template: name, category, languages, per language the header, body
// with {{named}} variables, footer and button texts, one example per variable; a live preview
// (POST /templates/preview) and save (POST /templates, or PUT /templates/<name>: a new version).
import { useEffect, useState } from "react";
import {
  Banner, BlockStack, Box, Button, Card, Checkbox, ChoiceList, FormLayout, InlineError, InlineGrid, Layout, Page,
  Select, Text, TextField,
} from "@shopify/polaris";
import { ErrorBanner } from "../components/common.jsx";
import { TEMPLATE_LANGUAGES, errorsOf, languageName, messageOf, useDebounced, variablesIn } from "../components/forms.js";
import { useI18n } from "../i18n/index.js";
import { useApi } from "../useApi.js";

const LINK_URL = "{app_url}/l/{{1}}";
const LINK_EXAMPLE = "{app_url}/l/Ab3dE9";
const OPT_OUT = "marketing_stop";
const EMPTY_CONTENT = { header: "", body: "", footer: "", url_text: "", stop_text: "" };

/** The editor's state from a stored definition (the catalogue's JSON format). */
export function formOf(definition) {
  const content = {};
  const examples = {};
  for (const [language, { components = [] }] of Object.entries(definition.languages || {})) {
    const one = { ...EMPTY_CONTENT };
    for (const component of components) {
      if (component.type === "HEADER") one.header = component.text || "";
      if (component.type === "BODY") {
        one.body = component.text || "";
        for (const item of (component.example || {}).body_text_named_params || []) examples[item.param_name] = item.example;
      }
      if (component.type === "FOOTER") one.footer = component.text || "";
      if (component.type === "BUTTONS") {
        for (const button of component.buttons || []) {
          if (button.type === "URL") one.url_text = button.text || "";
          if (button.type === "QUICK_REPLY") one.stop_text = button.text || "";
        }
      }
    }
    content[language] = one;
  }
  const actions = definition.buttons || [];
  return {
    name: definition.name, category: definition.category || "MARKETING", description: definition.description || "",
    languages: Object.keys(content), content, examples,
    url_button: actions.some((button) => button.type === "URL"),
    stop_button: actions.some((button) => button.type === "QUICK_REPLY"),
  };
}

export function newForm() {
  return { name: "", category: "MARKETING", description: "", languages: ["en"], content: { en: { ...EMPTY_CONTENT } },
    examples: {}, url_button: true, stop_button: true };
}

/** The form's variables: every {{name}} of every language's body, in order. */
function variablesOf(form) {
  return variablesIn(form.languages.map((language) => (form.content[language] || EMPTY_CONTENT).body).join("\n"));
}

/** The catalogue's JSON format for the form (what POST /templates takes). */
export function definitionOf(form, name = form.name) {
  const buttons = [];
  if (form.url_button) buttons.push({ type: "URL", suffix: "link_code" });
  if (form.stop_button) buttons.push({ type: "QUICK_REPLY", payload: OPT_OUT });
  const languages = {};
  for (const language of form.languages) {
    const one = form.content[language] || EMPTY_CONTENT;
    const components = [];
    if (one.header.trim()) components.push({ type: "HEADER", format: "TEXT", text: one.header });
    const body = { type: "BODY", text: one.body };
    const named = variablesIn(one.body);
    if (named.length) {
      body.example = { body_text_named_params: named.map((param) => ({ param_name: param, example: form.examples[param] || "" })) };
    }
    components.push(body);
    if (one.footer.trim()) components.push({ type: "FOOTER", text: one.footer });
    const shown = [];
    if (form.url_button) shown.push({ type: "URL", text: one.url_text, url: LINK_URL, example: [LINK_EXAMPLE] });
    if (form.stop_button) shown.push({ type: "QUICK_REPLY", text: one.stop_text });
    if (shown.length) components.push({ type: "BUTTONS", buttons: shown });
    languages[language] = { components };
  }
  const definition = { name, category: form.category, parameter_format: "NAMED", languages };
  if (buttons.length) definition.buttons = buttons;
  if (form.description.trim()) definition.description = form.description;
  return definition;
}

function LivePreview({ form }) {
  const { t, language } = useI18n();
  const api = useApi();
  // under a name of its own: the preview is about the content (the name is checked on save)
  const settled = useDebounced(definitionOf(form, "preview_of_a_template"), 500);
  const [state, setState] = useState({ previews: null, errors: null, busy: true });
  useEffect(() => {
    let live = true;
    setState((previous) => ({ ...previous, busy: true }));
    api.json("/templates/preview", { method: "POST", body: { definition: settled } }).then(
      ({ data }) => live && setState({ previews: data.previews, errors: null, busy: false }),
      (error) => live && setState({ previews: null, errors: errorsOf(error) || { _schema: [String(error.message)] },
        busy: false }));
    return () => { live = false; };
  }, [api, settled]);
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">{t("templates.preview")}</Text>
        <div aria-live="polite" data-testid="template-preview">
          {state.previews ? (
            <BlockStack gap="300">
              {Object.entries(state.previews).map(([code, text]) => (
                <BlockStack gap="100" key={code}>
                  <Text as="h3" variant="headingSm">{languageName(code, language)}</Text>
                  <div className="wcc-bubble" data-language={code}>{text}</div>
                </BlockStack>
              ))}
            </BlockStack>
          ) : state.errors ? (
            <BlockStack gap="100">
              <Text as="p" tone="subdued">{t("templates.preview_needs")}</Text>
              <Text as="p" tone="critical">{messageOf(state.errors)}</Text>
            </BlockStack>
          ) : <Text as="p" tone="subdued">{t("common.loading")}</Text>}
        </div>
      </BlockStack>
    </Card>
  );
}

export default function TemplateEditor({ initial, editing, onBack, onSaved }) {
  const { t, language } = useI18n();
  const api = useApi();
  const [form, setForm] = useState(initial || newForm());
  const [state, setState] = useState({ busy: false, error: null, saved: null });
  const errors = errorsOf(state.error) || {};
  const variables = variablesOf(form);
  const named = (code) => languageName(code, language);
  const setContent = (code, key, value) => setForm({
    ...form, content: { ...form.content, [code]: { ...(form.content[code] || EMPTY_CONTENT), [key]: value } },
  });
  const setLanguages = (languages) => {
    const content = { ...form.content };
    for (const code of languages) content[code] = content[code] || { ...EMPTY_CONTENT };
    setForm({ ...form, languages: TEMPLATE_LANGUAGES.filter((code) => languages.includes(code)), content });
  };

  const save = async () => {
    setState({ busy: true, error: null, saved: null });
    try {
      const path = editing ? `/templates/${encodeURIComponent(editing)}` : "/templates";
      const { data } = await api.json(path, { method: editing ? "PUT" : "POST", body: definitionOf(form) });
      setState({ busy: false, error: null, saved: data });
      onSaved(data);
    } catch (error) {
      setState({ busy: false, error, saved: null });
    }
  };

  const languageErrors = errors.languages && typeof errors.languages === "object" && !Array.isArray(errors.languages)
    ? errors.languages : {};
  const conflict = state.error && state.error.status === 409;
  return (
    <Page title={editing ? t("templates.edit_title", { name: editing }) : t("templates.new_title")}
      backAction={{ content: t("templates.title"), onAction: onBack }}
      primaryAction={<Button variant="primary" onClick={save} loading={state.busy}>{t("templates.save")}</Button>}>
      <form onSubmit={(event) => { event.preventDefault(); save(); }}>
        <Layout>
          <Layout.Section>
            <BlockStack gap="400">
              {state.saved && (
                <Banner tone="success" title={t(`templates.saved_${state.saved.outcome}`, { version: state.saved.template.version })}>
                  {state.saved.submission_queued && <p>{t("templates.submission_queued")}</p>}
                </Banner>
              )}
              {state.error && !errorsOf(state.error) && !conflict && <ErrorBanner error={state.error} />}
              {errorsOf(state.error) && (
                <Banner tone="critical" title={t("templates.invalid")}>
                  {errors._schema && <p>{messageOf(errors._schema)}</p>}
                </Banner>
              )}
              <Card>
                <FormLayout>
                  <TextField id="template-name" label={t("templates.name_field")} value={form.name} autoComplete="off"
                    disabled={Boolean(editing)} helpText={t("templates.name_help")}
                    onChange={(name) => setForm({ ...form, name })}
                    error={conflict ? t("templates.name_taken") : messageOf(errors.name)} />
                  <Select id="template-category" label={t("templates.category")} value={form.category}
                    options={[{ label: t("templates.marketing"), value: "MARKETING" }, { label: t("templates.utility"), value: "UTILITY" }]}
                    onChange={(category) => setForm({ ...form, category })} error={messageOf(errors.category)} />
                  <TextField id="template-description" label={t("templates.description")} value={form.description}
                    autoComplete="off" onChange={(description) => setForm({ ...form, description })}
                    error={messageOf(errors.description)} />
                  <ChoiceList allowMultiple title={t("templates.languages")} selected={form.languages} onChange={setLanguages}
                    choices={TEMPLATE_LANGUAGES.map((code) => ({ label: named(code), value: code }))}
                    error={Array.isArray(errors.languages) ? messageOf(errors.languages) : undefined} />
                  <Checkbox label={t("templates.url_button")} helpText={t("templates.url_button_help")}
                    checked={form.url_button} onChange={(url_button) => setForm({ ...form, url_button })} />
                  <Checkbox label={t("templates.stop_button")} helpText={t("templates.stop_button_help")}
                    checked={form.stop_button} onChange={(stop_button) => setForm({ ...form, stop_button })} />
                  {errors.buttons && <InlineError message={messageOf(errors.buttons)} fieldID="template-category" />}
                </FormLayout>
              </Card>
              {form.languages.map((code) => {
                const one = form.content[code] || EMPTY_CONTENT;
                const id = `template-${code}`;
                return (
                  <Card key={code}>
                    <BlockStack gap="300">
                      <Text as="h2" variant="headingMd">{named(code)}</Text>
                      {languageErrors[code] && <InlineError message={messageOf(languageErrors[code])} fieldID={`${id}-body`} />}
                      <FormLayout>
                        <TextField id={`${id}-header`} label={t("templates.header", { language: named(code) })}
                          value={one.header} autoComplete="off" onChange={(value) => setContent(code, "header", value)} />
                        <TextField id={`${id}-body`} label={t("templates.body", { language: named(code) })} multiline={4}
                          value={one.body} autoComplete="off" helpText={t("templates.body_help")}
                          onChange={(value) => setContent(code, "body", value)} />
                        <TextField id={`${id}-footer`} label={t("templates.footer", { language: named(code) })}
                          value={one.footer} autoComplete="off" onChange={(value) => setContent(code, "footer", value)} />
                        <InlineGrid columns={2} gap="300">
                          {form.url_button && (
                            <TextField id={`${id}-url-text`} label={t("templates.url_text", { language: named(code) })}
                              value={one.url_text} autoComplete="off" onChange={(value) => setContent(code, "url_text", value)} />
                          )}
                          {form.stop_button && (
                            <TextField id={`${id}-stop-text`} label={t("templates.stop_text", { language: named(code) })}
                              value={one.stop_text} autoComplete="off" onChange={(value) => setContent(code, "stop_text", value)} />
                          )}
                        </InlineGrid>
                      </FormLayout>
                    </BlockStack>
                  </Card>
                );
              })}
              {variables.length > 0 && (
                <Card>
                  <BlockStack gap="300">
                    <Text as="h2" variant="headingMd">{t("templates.examples")}</Text>
                    <Text as="p" tone="subdued">{t("templates.examples_help")}</Text>
                    <FormLayout>
                      {variables.map((name) => (
                        <TextField key={name} id={`template-example-${name}`} autoComplete="off"
                          label={t("templates.example", { name })} value={form.examples[name] || ""}
                          onChange={(value) => setForm({ ...form, examples: { ...form.examples, [name]: value } })} />
                      ))}
                    </FormLayout>
                  </BlockStack>
                </Card>
              )}
              <Box>
                <Button submit variant="primary" loading={state.busy}>{t("templates.save")}</Button>
              </Box>
            </BlockStack>
          </Layout.Section>
          <Layout.Section variant="oneThird">
            <LivePreview form={form} />
          </Layout.Section>
        </Layout>
      </form>
    </Page>
  );
}

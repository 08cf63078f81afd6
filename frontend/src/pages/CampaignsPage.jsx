// Campaigns: the list with each one's live progress, the form that makes a draft (template and its
// variables, a segment with its count as it is built, when to send, A/B variants, a holdout), a
// campaign's preview and controls (start, pause, resume, cancel), and its report.
import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import {
  Badge, Banner, BlockStack, Box, Button, ButtonGroup, Card, Checkbox, ChoiceList, DataTable, FormLayout,
  InlineError, InlineStack, Modal, Page, ProgressBar, Select, Text, TextField,
} from "@shopify/polaris";
import { ErrorBanner, Loaded, Loading, formatDateTime, formatMoney, formatNumber } from "../components/common.jsx";
import { errorsOf, listOf, messageOf, useDebounced, variablesIn } from "../components/forms.js";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

const RevenueChart = lazy(() => import("../components/RevenueChart.jsx"));

const POLL_MS = 2000;
const LIVE = ["planning", "sending"];
const TONES = { planning: "info", sending: "attention", paused: "warning", completed: "success", failed: "critical" };
const PER_RECIPIENT = ["customer_name", "shop_name"];
const MAX_VARIANTS = 5;
/** The segment's keys as the form shows them: [key, kind] (list: comma separated; number). */
const SEGMENT_FIELDS = [
  ["country", "list"], ["locale", "list"], ["orders_min", "number"], ["orders_max", "number"],
  ["spent_min", "number"], ["last_order_within_days", "number"], ["last_order_before_days", "number"],
  ["opted_in_within_days", "number"], ["clicked_within_days", "number"], ["source", "list"],
  ["not_read_last", "number"],
];

function StatusBadge({ status }) {
  const { t } = useI18n();
  return <Badge tone={TONES[status]}>{t(`campaigns.statuses.${status}`)}</Badge>;
}

/** The campaign, polled while it is planning or sending: its figures stay live. */
function useLiveCampaign(initial) {
  const api = useApi();
  const [campaign, setCampaign] = useState(initial);
  useEffect(() => setCampaign(initial), [initial]);
  const live = campaign && LIVE.includes(campaign.status);
  const id = campaign && campaign.id;
  useEffect(() => {
    if (!live) return undefined;
    let stop = false;
    const timer = setInterval(() => {
      api.get(`/campaigns/${id}`).then((data) => !stop && setCampaign(data.campaign), () => null);
    }, POLL_MS);
    return () => { stop = true; clearInterval(timer); };
  }, [api, id, live]);
  return [campaign, setCampaign];
}

function Progress({ campaign }) {
  const { t, language } = useI18n();
  const progress = campaign.progress;
  const total = Math.max(progress.recipients || 0, progress.messages || 0);
  const labelId = `campaign-${campaign.id}-progress`;
  return (
    <BlockStack gap="100">
      <Text as="span" id={labelId} variant="bodySm">
        {t("campaigns.progress", { sent: formatNumber(progress.sent, language), total: formatNumber(total, language) })}
      </Text>
      <ProgressBar progress={Math.round((progress.done_ratio || 0) * 100)} size="small" ariaLabelledBy={labelId}
        tone={campaign.status === "completed" ? "success" : "highlight"} animated={false} />
    </BlockStack>
  );
}

function CampaignRow({ campaign: initial, onOpen }) {
  const { t, language } = useI18n();
  const [campaign] = useLiveCampaign(initial);
  return (
    <Box paddingBlock="300" borderBlockEndWidth="025" borderColor="border">
      <InlineStack gap="400" align="space-between" blockAlign="center" wrap={false}>
        <BlockStack gap="100">
          <Button variant="plain" onClick={() => onOpen(campaign.id)}
            accessibilityLabel={t("campaigns.open_named", { name: campaign.name })}>{campaign.name}</Button>
          <Text as="span" tone="subdued" variant="bodySm">
            {campaign.template} · {formatDateTime(campaign.created_at, language)}
          </Text>
        </BlockStack>
        <InlineStack gap="400" blockAlign="center" wrap={false}>
          <StatusBadge status={campaign.status} />
          <div style={{ width: 200 }}><Progress campaign={campaign} /></div>
        </InlineStack>
      </InlineStack>
    </Box>
  );
}

function CampaignList({ onOpen, onNew }) {
  const { t } = useI18n();
  const campaigns = useLoad("/campaigns");
  return (
    <Page title={t("campaigns.title")}
      primaryAction={<Button variant="primary" onClick={onNew}>{t("campaigns.create")}</Button>}>
      <Loaded load={campaigns}>
        {(data) => (
          <Card>
            {data.campaigns.length === 0
              ? <Text as="p" tone="subdued">{t("campaigns.none")}</Text>
              : <div role="list" aria-label={t("campaigns.title")}>
                {data.campaigns.map((campaign) => (
                  <div role="listitem" key={campaign.id}><CampaignRow campaign={campaign} onOpen={onOpen} /></div>
                ))}
              </div>}
          </Card>
        )}
      </Loaded>
    </Page>
  );
}

// -- the form --------------------------------------------------------------------------------

const EMPTY_SEGMENT = Object.fromEntries(SEGMENT_FIELDS.map(([key]) => [key, ""]));

function newVariant(index) {
  return { name: String.fromCharCode(65 + index), weight: "1", variables: {} };
}

/** The segment's JSON from the form's text: empty fields left out, lists split, numbers as typed. */
function segmentBody(segment) {
  const body = {};
  for (const [key, kind] of SEGMENT_FIELDS) {
    const value = String(segment[key] || "").trim();
    if (!value) continue;
    if (kind === "list") body[key] = listOf(value, key === "country");
    else body[key] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return body;
}

function filled(values) {
  return Object.fromEntries(Object.entries(values || {}).filter(([, value]) => String(value).trim() !== ""));
}

function numberOr(value) {
  const text = String(value).trim();
  return text !== "" && !Number.isNaN(Number(text)) ? Number(text) : text;
}

function campaignBody(form) {
  const body = { name: form.name, template: form.template, segment: segmentBody(form.segment),
    variables: filled(form.variables) };
  if (form.link.trim()) body.link = form.link.trim();
  if (form.timing === "at") {
    const moment = new Date(form.at);
    body.at = form.at && !Number.isNaN(moment.getTime()) ? moment.toISOString() : form.at;
  }
  if (form.timing === "local") body.local_time = form.local_time;
  if (form.ab) {
    body.variants = form.variants.map((variant) => {
      const spec = { name: variant.name, weight: numberOr(variant.weight) };
      const overrides = filled(variant.variables);
      if (Object.keys(overrides).length) spec.variables = overrides;
      return spec;
    });
  }
  if (String(form.holdout).trim()) body.holdout_percent = numberOr(form.holdout);
  return body;
}

/** The messages of a list that name `variable` (the API says "campaign_announcement needs offer."). */
function mentioning(messages, variable) {
  const pattern = new RegExp(`\\b${variable}\\b`);
  return messages.filter((message) => pattern.test(message.replace(/^\S+ (needs|has no) /, " ")));
}

function variableErrors(errors, variables) {
  const byField = {};
  let rest = [];
  if (Array.isArray(errors)) {
    rest = [...errors];
    for (const variable of variables) {
      const mine = mentioning(errors, variable);
      if (mine.length) {
        byField[variable] = mine.join(" ");
        rest = rest.filter((message) => !mine.includes(message));
      }
    }
  } else if (errors && typeof errors === "object") {
    for (const [variable, messages] of Object.entries(errors)) {
      if (variables.includes(variable)) byField[variable] = messageOf(messages);
      else rest.push(messageOf(messages));
    }
  }
  return { byField, rest: messageOf(rest) };
}

function SegmentCount({ segment, onErrors }) {
  const { t, language } = useI18n();
  const api = useApi();
  const settled = useDebounced(segment, 400);
  const [state, setState] = useState({ count: null, busy: true });
  useEffect(() => {
    let live = true;
    setState((previous) => ({ ...previous, busy: true }));
    api.json("/segments/preview", { method: "POST", body: { segment: settled } }).then(
      ({ data }) => { if (live) { setState({ count: data.count, busy: false }); onErrors(null); } },
      (error) => {
        if (!live) return;
        const errors = errorsOf(error);
        setState({ count: null, busy: false, failed: !errors });
        onErrors(errors ? errors.segment || errors : null);
      });
    return () => { live = false; };
  }, [api, settled, onErrors]);
  let text;
  if (state.count != null) text = t("campaigns.segment_count", { count: formatNumber(state.count, language) });
  else if (state.failed) text = t("campaigns.segment_count_failed");
  else if (!state.busy) text = t("campaigns.segment_count_invalid");
  else text = t("campaigns.segment_counting");
  return (
    <div aria-live="polite" data-testid="segment-count">
      <Text as="p" variant="headingSm" tone={state.busy ? "subdued" : undefined}>{text}</Text>
    </div>
  );
}

function SegmentBuilder({ segment, onChange, errors }) {
  const { t } = useI18n();
  const [previewErrors, setPreviewErrors] = useState(null);
  const shown = errors || previewErrors || {};
  const field = ([key, kind]) => (
    <TextField key={key} id={`segment-${key}`} label={t(`campaigns.segment_fields.${key}`)} autoComplete="off"
      type={kind === "number" ? "number" : "text"} min={kind === "number" ? 0 : undefined}
      helpText={kind === "list" ? t(`campaigns.segment_help.${key}`) : undefined}
      value={segment[key]} onChange={(value) => onChange({ ...segment, [key]: value })}
      error={messageOf(shown[key])} />
  );
  const byKey = Object.fromEntries(SEGMENT_FIELDS.map((spec) => [spec[0], spec]));
  const group = (...keys) => <FormLayout.Group condensed>{keys.map((key) => field(byKey[key]))}</FormLayout.Group>;
  return (
    <Card>
      <BlockStack gap="300">
        <Text as="h2" variant="headingMd">{t("campaigns.segment")}</Text>
        <Text as="p" tone="subdued">{t("campaigns.segment_explained")}</Text>
        <FormLayout>
          {group("country", "locale", "source")}
          {group("orders_min", "orders_max", "spent_min")}
          {group("last_order_within_days", "last_order_before_days")}
          {group("opted_in_within_days", "clicked_within_days", "not_read_last")}
        </FormLayout>
        {shown._schema && <InlineError message={messageOf(shown._schema)} fieldID="segment-country" />}
        <SegmentCount segment={segmentBody(segment)} onErrors={setPreviewErrors} />
      </BlockStack>
    </Card>
  );
}

function useTemplateVariables(name) {
  const template = useLoad(name ? `/templates/${encodeURIComponent(name)}` : null);
  if (!name || !template.data || template.data.name !== name) return { variables: [], loading: Boolean(name) };
  const texts = Object.values(template.data.definition.languages || {}).flatMap((language) =>
    (language.components || []).map((component) => component.text || ""));
  return { variables: variablesIn(texts.join("\n")).filter((v) => !PER_RECIPIENT.includes(v)), loading: false };
}

function VariantsEditor({ form, setForm, variables, errors }) {
  const { t } = useI18n();
  const variantErrors = errors && !Array.isArray(errors) && typeof errors === "object" ? errors : {};
  const update = (index, change) => setForm({
    ...form, variants: form.variants.map((variant, at) => (at === index ? { ...variant, ...change } : variant)),
  });
  return (
    <BlockStack gap="300">
      {Array.isArray(errors) && <InlineError message={messageOf(errors)} fieldID="variant-0-name" />}
      {form.variants.map((variant, index) => {
        const mine = variantErrors[index] || variantErrors[String(index)] || {};
        return (
          <Box key={index} padding="300" borderWidth="025" borderColor="border" borderRadius="200">
            <BlockStack gap="200">
              <Text as="h3" variant="headingSm">{t("campaigns.variant", { number: index + 1 })}</Text>
              <FormLayout>
                <FormLayout.Group condensed>
                  <TextField id={`variant-${index}-name`} autoComplete="off"
                    label={t("campaigns.variant_name", { number: index + 1 })} value={variant.name}
                    onChange={(value) => update(index, { name: value })} error={messageOf(mine.name)} />
                  <TextField id={`variant-${index}-weight`} autoComplete="off" type="number" min={0}
                    label={t("campaigns.variant_weight", { number: index + 1 })} value={variant.weight}
                    onChange={(value) => update(index, { weight: value })} error={messageOf(mine.weight)} />
                </FormLayout.Group>
                {variables.map((name) => (
                  <TextField key={name} autoComplete="off"
                    label={t("campaigns.variant_variable", { number: index + 1, name })}
                    placeholder={form.variables[name] || ""} helpText={t("campaigns.variant_variable_help")}
                    value={variant.variables[name] || ""}
                    onChange={(value) => update(index, { variables: { ...variant.variables, [name]: value } })}
                    error={messageOf(mine.variables && mine.variables[name])} />
                ))}
              </FormLayout>
              {form.variants.length > 2 && (
                <InlineStack>
                  <Button tone="critical" variant="plain"
                    onClick={() => setForm({ ...form, variants: form.variants.filter((_, at) => at !== index) })}>
                    {t("campaigns.remove_variant", { number: index + 1 })}
                  </Button>
                </InlineStack>
              )}
            </BlockStack>
          </Box>
        );
      })}
      {form.variants.length < MAX_VARIANTS && (
        <InlineStack>
          <Button onClick={() => setForm({ ...form, variants: [...form.variants, newVariant(form.variants.length)] })}>
            {t("campaigns.add_variant")}
          </Button>
        </InlineStack>
      )}
    </BlockStack>
  );
}

function CampaignForm({ onBack, onCreated }) {
  const { t } = useI18n();
  const api = useApi();
  const templates = useLoad("/templates");
  const [form, setForm] = useState({
    name: "", template: "", variables: {}, link: "", segment: EMPTY_SEGMENT, timing: "now", at: "", local_time: "",
    ab: false, variants: [newVariant(0), newVariant(1)], holdout: "",
  });
  const [state, setState] = useState({ busy: false, error: null });
  const { variables } = useTemplateVariables(form.template);
  const errors = errorsOf(state.error) || {};
  const onSegment = useCallback((segment) => setForm((previous) => ({ ...previous, segment })), []);

  const submit = async () => {
    setState({ busy: true, error: null });
    try {
      const { data } = await api.json("/campaigns", { method: "POST", body: campaignBody(form) });
      setState({ busy: false, error: null });
      onCreated(data.campaign.id);
    } catch (error) {
      setState({ busy: false, error });
    }
  };

  const marketing = templates.data
    ? templates.data.templates.filter((template) => String(template.category).toUpperCase() === "MARKETING") : [];
  const options = [{ label: t("campaigns.choose_template"), value: "", disabled: true },
    ...marketing.map((template) => ({ label: template.name, value: template.name }))];
  const varErrors = variableErrors(errors.variables, variables);
  const others = Object.entries(errors).filter(([key]) => !["name", "template", "variables", "segment", "link", "at",
    "local_time", "variants", "holdout_percent"].includes(key));

  return (
    <Page title={t("campaigns.new_title")} backAction={{ content: t("campaigns.title"), onAction: onBack }}
      primaryAction={<Button variant="primary" onClick={submit} loading={state.busy}>{t("campaigns.create")}</Button>}>
      <form onSubmit={(event) => { event.preventDefault(); submit(); }}>
        <BlockStack gap="400">
          {state.error && !errorsOf(state.error) && <ErrorBanner error={state.error} />}
          {errorsOf(state.error) && <Banner tone="critical" title={t("campaigns.invalid")}>
            {others.length > 0 && <p>{messageOf(Object.fromEntries(others))}</p>}
          </Banner>}
          <Card>
            <FormLayout>
              <TextField id="campaign-name" label={t("campaigns.name")} value={form.name} autoComplete="off"
                onChange={(name) => setForm({ ...form, name })} error={messageOf(errors.name)} />
              <Select id="campaign-template" label={t("campaigns.template")} options={options} value={form.template}
                onChange={(template) => setForm({ ...form, template, variables: {} })}
                error={messageOf(errors.template)} helpText={t("campaigns.template_help")} />
              {variables.length > 0 && (
                <BlockStack gap="200">
                  <Text as="h2" variant="headingSm">{t("campaigns.variables")}</Text>
                  {variables.map((name) => (
                    <TextField key={name} id={`variable-${name}`} autoComplete="off"
                      label={t("campaigns.variable", { name })} value={form.variables[name] || ""}
                      onChange={(value) => setForm({ ...form, variables: { ...form.variables, [name]: value } })}
                      error={varErrors.byField[name]} />
                  ))}
                </BlockStack>
              )}
              {varErrors.rest && <InlineError message={varErrors.rest} fieldID="campaign-template" />}
              <TextField id="campaign-link" type="url" label={t("campaigns.link")} value={form.link} autoComplete="off"
                helpText={t("campaigns.link_help")} onChange={(link) => setForm({ ...form, link })}
                error={messageOf(errors.link)} />
            </FormLayout>
          </Card>
          <SegmentBuilder segment={form.segment} onChange={onSegment} errors={errors.segment} />
          <Card>
            <BlockStack gap="300">
              <ChoiceList title={t("campaigns.when")} selected={[form.timing]}
                onChange={([timing]) => setForm({ ...form, timing })}
                choices={[
                  { label: t("campaigns.when_now"), value: "now" },
                  { label: t("campaigns.when_at"), value: "at" },
                  { label: t("campaigns.when_local"), value: "local", helpText: t("campaigns.when_local_help") },
                ]} />
              {form.timing === "at" && (
                <TextField id="campaign-at" type="datetime-local" label={t("campaigns.at")} value={form.at}
                  autoComplete="off" onChange={(at) => setForm({ ...form, at })} error={messageOf(errors.at)} />
              )}
              {form.timing === "local" && (
                <TextField id="campaign-local-time" type="time" label={t("campaigns.local_time")}
                  value={form.local_time} autoComplete="off" onChange={(value) => setForm({ ...form, local_time: value })}
                  error={messageOf(errors.local_time)} />
              )}
            </BlockStack>
          </Card>
          <Card>
            <BlockStack gap="300">
              <Text as="h2" variant="headingMd">{t("campaigns.testing")}</Text>
              <Checkbox label={t("campaigns.ab")} helpText={t("campaigns.ab_help")} checked={form.ab}
                onChange={(ab) => setForm({ ...form, ab })} />
              {form.ab && <VariantsEditor form={form} setForm={setForm} variables={variables} errors={errors.variants} />}
              <TextField id="campaign-holdout" type="number" min={0} max={50} label={t("campaigns.holdout_percent")}
                helpText={t("campaigns.holdout_help")} value={form.holdout} autoComplete="off" suffix="%"
                onChange={(holdout) => setForm({ ...form, holdout })} error={messageOf(errors.holdout_percent)} />
            </BlockStack>
          </Card>
          <InlineStack align="end">
            <Button submit variant="primary" loading={state.busy}>{t("campaigns.create")}</Button>
          </InlineStack>
        </BlockStack>
      </form>
    </Page>
  );
}

// -- one campaign ----------------------------------------------------------------------------

function PreviewCard({ id }) {
  const { t, language } = useI18n();
  const preview = useLoad(`/campaigns/${id}/preview`);
  return (
    <Card>
      <BlockStack gap="200">
        <Text as="h2" variant="headingMd">{t("campaigns.preview")}</Text>
        <Loaded load={preview}>
          {(data) => (
            <BlockStack gap="100">
              <Text as="p">{t("campaigns.preview_recipients", { count: formatNumber(data.recipients, language) })}</Text>
              <Text as="p">{t("campaigns.preview_holdout", { count: formatNumber(data.holdout, language) })}</Text>
              {data.variants.length > 1 && data.variants.map((variant) => (
                <Text as="p" key={variant.name}>
                  {t("campaigns.preview_variant", { name: variant.name, count: formatNumber(variant.recipients, language) })}
                </Text>
              ))}
              <Text as="p">
                {data.messaging_limit == null ? t("campaigns.preview_unlimited")
                  : t("campaigns.preview_days", { days: formatNumber(data.days_needed, language),
                    limit: formatNumber(data.messaging_limit, language) })}
              </Text>
              {data.estimated_cost != null && (
                <Text as="p">
                  {t("campaigns.preview_cost", { cost: formatMoney(data.estimated_cost, data.cost_currency, language),
                    as_of: (data.rate_card && data.rate_card.as_of) || "" })}
                </Text>
              )}
            </BlockStack>
          )}
        </Loaded>
      </BlockStack>
    </Card>
  );
}

function CancelModal({ open, busy, onClose, onConfirm }) {
  const { t } = useI18n();
  return (
    <Modal open={open} onClose={onClose} title={t("campaigns.cancel_title")}
      primaryAction={{ content: t("campaigns.cancel_confirm"), destructive: true, onAction: onConfirm, loading: busy }}
      secondaryActions={[{ content: t("campaigns.keep"), onAction: onClose }]}>
      <Modal.Section><Text as="p">{t("campaigns.cancel_explained")}</Text></Modal.Section>
    </Modal>
  );
}

function CampaignDetail({ id, onBack, onReport }) {
  const { t, language } = useI18n();
  const api = useApi();
  const load = useLoad(`/campaigns/${id}`);
  const [campaign, setCampaign] = useLiveCampaign(load.data ? load.data.campaign : null);
  const [state, setState] = useState({ busy: null, error: null, confirm: false });
  const [round, setRound] = useState(0);
  const act = async (action) => {
    setState({ busy: action, error: null, confirm: false });
    try {
      const { data } = await api.json(`/campaigns/${id}/${action}`, { method: "POST" });
      setCampaign(data.campaign);
      setState({ busy: null, error: null, confirm: false });
      setRound((n) => n + 1);
    } catch (error) {
      setState({ busy: null, error, confirm: false });
    }
  };
  if (load.error) return <Page title={t("campaigns.title")} backAction={{ content: t("campaigns.title"), onAction: onBack }}><ErrorBanner error={load.error} /></Page>;
  if (!campaign) return <Loading />;
  const status = campaign.status;
  const running = ["planning", "sending"].includes(status);
  const when = campaign.local_time ? t("campaigns.when_local_at", { time: campaign.local_time })
    : campaign.at ? formatDateTime(campaign.at, language) : t("campaigns.when_now");
  return (
    <Page title={campaign.name} titleMetadata={<StatusBadge status={status} />}
      backAction={{ content: t("campaigns.title"), onAction: onBack }}>
      <BlockStack gap="400">
        {state.error && (state.error.status === 409
          ? <Banner tone="warning" title={t("campaigns.conflict")} onDismiss={() => setState({ ...state, error: null })} />
          : <ErrorBanner error={state.error} onDismiss={() => setState({ ...state, error: null })} />)}
        {campaign.error && <Banner tone="critical" title={t("campaigns.failed")}><p>{campaign.error}</p></Banner>}
        <Card>
          <BlockStack gap="300">
            <Text as="p">{t("campaigns.summary", { template: campaign.template, when })}</Text>
            <Progress campaign={campaign} />
            <ButtonGroup>
              {status === "draft" && <Button variant="primary" onClick={() => act("start")} loading={state.busy === "start"}>{t("campaigns.start")}</Button>}
              {running && <Button onClick={() => act("pause")} loading={state.busy === "pause"}>{t("campaigns.pause")}</Button>}
              {status === "paused" && <Button variant="primary" onClick={() => act("resume")} loading={state.busy === "resume"}>{t("campaigns.resume")}</Button>}
              {(running || status === "paused") && <Button tone="critical" onClick={() => setState({ ...state, confirm: true })}>{t("campaigns.cancel")}</Button>}
              {status !== "draft" && <Button onClick={() => onReport(id)}>{t("campaigns.report")}</Button>}
            </ButtonGroup>
          </BlockStack>
        </Card>
        {status === "draft" && <PreviewCard key={round} id={id} />}
      </BlockStack>
      <CancelModal open={state.confirm} busy={state.busy === "cancel"} onClose={() => setState({ ...state, confirm: false })}
        onConfirm={() => act("cancel")} />
    </Page>
  );
}

// -- the report ------------------------------------------------------------------------------

function CampaignReport({ id, onBack }) {
  const { t, language } = useI18n();
  const report = useLoad(`/campaigns/${id}/report`);
  const money = (value, currency) => formatMoney(value, currency, language);
  return (
    <Page title={report.data ? t("campaigns.report_title", { name: report.data.name }) : t("campaigns.report")}
      backAction={{ content: t("campaigns.back_to_campaign"), onAction: onBack }}>
      <Loaded load={report}>
        {(data) => {
          const groupName = (group) => (group.holdout ? t("campaigns.holdout")
            : group.rest ? t("campaigns.rest") : t("campaigns.variant_named", { name: group.variant }));
          const interval = (group) => (group.vs_holdout
            ? t("campaigns.interval", { difference: money(group.vs_holdout.difference, data.currency),
              low: money(group.vs_holdout.low, data.currency), high: money(group.vs_holdout.high, data.currency) })
            : "—");
          return (
            <BlockStack gap="400">
              <Card>
                <BlockStack gap="200">
                  <Text as="h2" variant="headingMd">{t("campaigns.verdict")}</Text>
                  <Text as="p" id="campaign-verdict">{data.verdict}</Text>
                  <Text as="p" tone="subdued">{t("campaigns.test_used", { test: data.test })}</Text>
                  {data.revenue_per_cost != null && (
                    <Text as="p">{t("campaigns.revenue_per_cost", { value: formatNumber(Number(data.revenue_per_cost), language) })}</Text>
                  )}
                </BlockStack>
              </Card>
              <Card>
                <DataTable
                  columnContentTypes={["text", "numeric", "numeric", "numeric", "numeric", "numeric", "numeric", "numeric",
                    "text", "numeric"]}
                  headings={[t("campaigns.group"), t("metrics.recipients"), t("metrics.sent"), t("metrics.delivered"),
                    t("metrics.read"), t("metrics.clicked"), t("metrics.orders"), t("metrics.revenue_per_recipient"),
                    t("campaigns.vs_holdout"), t("campaigns.cost")]}
                  rows={data.groups.map((group) => [groupName(group), formatNumber(group.recipients, language),
                    formatNumber(group.sent, language), formatNumber(group.delivered, language),
                    formatNumber(group.read, language), formatNumber(group.clicked, language),
                    formatNumber(group.orders, language), money(group.revenue_per_recipient, data.currency),
                    interval(group), group.cost == null ? "" : money(group.cost, data.cost_currency)])}
                  totals={["", formatNumber(data.recipients, language), formatNumber(data.sent, language),
                    formatNumber(data.delivered, language), formatNumber(data.read, language),
                    formatNumber(data.clicked, language), formatNumber(data.orders, language), "", "",
                    data.cost == null ? "" : money(data.cost, data.cost_currency)]}
                  showTotalsInFooter />
              </Card>
              {data.groups.length > 0 && (
                <Card>
                  <BlockStack gap="200">
                    <Text as="h2" variant="headingMd" id="campaign-revenue-chart">{t("metrics.revenue_per_recipient")}</Text>
                    <Suspense fallback={<Loading />}>
                      <RevenueChart labelledBy="campaign-revenue-chart" name={t("metrics.revenue_per_recipient")}
                        points={data.groups.map((group) => ({ key: groupName(group), value: group.revenue_per_recipient }))} />
                    </Suspense>
                  </BlockStack>
                </Card>
              )}
            </BlockStack>
          );
        }}
      </Loaded>
    </Page>
  );
}

export default function CampaignsPage() {
  const [view, setView] = useState({ kind: "list" });
  const [listRound, setListRound] = useState(0);
  const toList = () => { setView({ kind: "list" }); setListRound((n) => n + 1); };
  if (view.kind === "new") return <CampaignForm onBack={toList} onCreated={(id) => setView({ kind: "campaign", id })} />;
  if (view.kind === "campaign") {
    return <CampaignDetail key={view.id} id={view.id} onBack={toList} onReport={(id) => setView({ kind: "report", id })} />;
  }
  if (view.kind === "report") return <CampaignReport id={view.id} onBack={() => setView({ kind: "campaign", id: view.id })} />;
  return <CampaignList key={listRound} onOpen={(id) => setView({ kind: "campaign", id })} onNew={() => setView({ kind: "new" })} />;
}

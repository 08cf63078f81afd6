// Automations: each one's switch, its settings, each step's message as WhatsApp shows it (in
// each language, with sample values) and its funnel (GET /automations).
import { useState } from "react";
import { Badge, BlockStack, Card, Checkbox, InlineStack, Page, Select, Text } from "@shopify/polaris";
import { ErrorBanner, Loaded, formatDuration, formatNumber } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

const FUNNEL = ["triggered", "sent", "delivered", "read", "clicked", "orders"];

function Preview({ preview }) {
  return (
    <div className="wcc-bubble">
      {preview.header && <Text as="p" fontWeight="bold">{preview.header}</Text>}
      <Text as="p">{preview.body}</Text>
      {preview.footer && <Text as="p" tone="subdued" variant="bodySm">{preview.footer}</Text>}
      {(preview.buttons || []).map((button, index) => (
        <div key={index} className="wcc-bubble-button">{button.text}</div>
      ))}
    </div>
  );
}

function Step({ step, number, name }) {
  const { t } = useI18n();
  const languages = Object.keys(step.previews || {});
  const [language, setLanguage] = useState(languages[0] || "");
  return (
    <BlockStack gap="200">
      <Text as="h3" variant="headingSm">
        {t("automations.step", { number, delay: formatDuration(step.delay_seconds, t) })}
        {step.after ? ` (${step.after})` : ""} · <code>{step.template}</code>
      </Text>
      {languages.length > 1 && (
        <Select label={t("automations.language")} value={language} onChange={setLanguage}
          id={`preview-${name}-${number}`} options={languages.map((code) => ({ label: code, value: code }))} />
      )}
      {language && <Preview preview={step.previews[language]} />}
    </BlockStack>
  );
}

/** The review request's low ratings, for the merchant to act on (GET /reviews?flagged=1). */
function FlaggedReviews() {
  const { t, language } = useI18n();
  const reviews = useLoad("/reviews?flagged=1&limit=10");
  return (
    <BlockStack gap="100">
      <Text as="h3" variant="headingSm">{t("automations.reviews.title")}</Text>
      <Loaded load={reviews}>
        {(data) => (data.reviews.length === 0 ? <Text as="p" tone="subdued">{t("automations.reviews.empty")}</Text> : (
          <ul style={{ margin: 0, paddingInlineStart: 16 }}>
            {data.reviews.map((review) => (
              <li key={review.id}>
                <Text as="span">
                  {t("automations.reviews.rating", { rating: formatNumber(review.rating, language) })}
                  {" · "}{review.order_name || review.order_id}{" · "}{review.name || review.phone || ""}
                  {" · "}{review.comment || t("automations.reviews.no_comment")}
                </Text>
              </li>
            ))}
          </ul>
        ))}
      </Loaded>
    </BlockStack>
  );
}

function Automation({ automation, onToggle }) {
  const { t, language } = useI18n();
  const funnel = automation.funnel || {};
  return (
    <Card>
      <BlockStack gap="300">
        <InlineStack align="space-between" blockAlign="center">
          <Text as="h2" variant="headingMd">{t(`automations.names.${automation.name}`)}</Text>
          <Badge tone={automation.enabled ? "success" : undefined}>
            {automation.enabled ? t("automations.on") : t("automations.off")}
          </Badge>
        </InlineStack>
        <Checkbox label={t("automations.enabled")} checked={automation.enabled}
          onChange={(enabled) => onToggle(automation.name, enabled)} />
        {Object.entries(automation.settings || {}).filter(([key]) => key !== "enabled").length > 0 && (
          <dl style={{ margin: 0 }}>
            {Object.entries(automation.settings).filter(([key]) => key !== "enabled").map(([key, value]) => (
              <div key={key} style={{ display: "flex", gap: 8 }}>
                <dt><Text as="span" tone="subdued">{key.replace(/_/g, " ")}:</Text></dt>
                <dd style={{ margin: 0 }}><Text as="span">{JSON.stringify(value)}</Text></dd>
              </div>
            ))}
          </dl>
        )}
        {(automation.steps || []).map((step, index) => (
          <Step key={index} step={step} number={index + 1} name={automation.name} />
        ))}
        {automation.name === "review_request" && <FlaggedReviews />}
        <InlineStack gap="400">
          {FUNNEL.filter((name) => name in funnel).map((name) => (
            <Text as="span" key={name}>{t(`metrics.${name}`)}: {formatNumber(funnel[name], language)}</Text>
          ))}
        </InlineStack>
      </BlockStack>
    </Card>
  );
}

export default function AutomationsPage() {
  const { t } = useI18n();
  const api = useApi();
  const automations = useLoad("/automations");
  const [error, setError] = useState(null);
  const toggle = async (name, enabled) => {
    setError(null);
    try {
      await api.json("/settings", { method: "PATCH", body: { automations: { [name]: { enabled } } },
        contentType: "application/merge-patch+json" });
      automations.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <Page title={t("automations.title")}>
      <BlockStack gap="400">
        <ErrorBanner error={error} onDismiss={() => setError(null)} />
        <Loaded load={automations}>
          {(data) => data.automations.map((automation) => (
            <Automation key={automation.name} automation={automation} onToggle={toggle} />
          ))}
        </Loaded>
      </BlockStack>
    </Page>
  );
}

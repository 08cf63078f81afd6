// Home: the onboarding checklist and today's numbers (GET /home), a test message to one's own phone.
import { useState } from "react";
import { Banner, BlockStack, Button, Card, Icon, InlineGrid, InlineStack, Layout, Page, Text, TextField } from "@shopify/polaris";
import { CheckCircleIcon, StatusIcon } from "@shopify/polaris-icons";
import { ErrorBanner, Loaded, formatMoney, formatNumber } from "../components/common.jsx";
import { useI18n } from "../i18n/index.js";
import { useApi, useLoad } from "../useApi.js";

const FIGURES = ["sent", "delivered", "read", "clicked", "orders"];

function TestMessage() {
  const { t } = useI18n();
  const api = useApi();
  const [phone, setPhone] = useState("");
  const [state, setState] = useState({ sending: false, sent: false, error: null });
  const send = async (event) => {
    event.preventDefault();
    setState({ sending: true, sent: false, error: null });
    try {
      await api.json("/test-message", { method: "POST", body: { phone } });
      setState({ sending: false, sent: true, error: null });
    } catch (error) {
      setState({ sending: false, sent: false, error });
    }
  };
  return (
    <form onSubmit={send}>
      <BlockStack gap="200">
        {state.sent && <Banner tone="success" title={t("home.test_sent")} />}
        {state.error && <ErrorBanner error={state.error} />}
        <InlineStack gap="200" blockAlign="end">
          <TextField label={t("home.test_phone")} type="tel" autoComplete="tel" value={phone} onChange={setPhone} />
          <Button submit loading={state.sending} disabled={!phone}>{t("home.test_send")}</Button>
        </InlineStack>
      </BlockStack>
    </form>
  );
}

export default function HomePage() {
  const { t, language } = useI18n();
  const home = useLoad("/home");
  return (
    <Page title={t("home.title")}>
      <Loaded load={home}>
        {(data) => (
          <Layout>
            <Layout.Section>
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">{t("home.checklist")}</Text>
                  <ul aria-label={t("home.checklist")} style={{ listStyle: "none", padding: 0, margin: 0 }}>
                    {data.checklist.map((item) => (
                      <li key={item.key} style={{ marginBottom: 8 }}>
                        <InlineStack gap="200" blockAlign="center" wrap={false}>
                          <span aria-hidden="true"><Icon source={item.done ? CheckCircleIcon : StatusIcon}
                            tone={item.done ? "success" : "subdued"} /></span>
                          <Text as="span" fontWeight="semibold">{t(`home.items.${item.key}`)}</Text>
                          <Text as="span" tone={item.done ? "success" : "subdued"}>
                            {item.done ? t("home.done") : t("home.to_do")}
                          </Text>
                        </InlineStack>
                        {item.detail && <Text as="p" tone="subdued">{item.detail}</Text>}
                        {item.link && (
                          <a href={item.link} target="_top" rel="noopener">{t(`home.links.${item.key}`)}</a>
                        )}
                        {item.key === "test_message" && !item.done && <TestMessage />}
                      </li>
                    ))}
                  </ul>
                </BlockStack>
              </Card>
            </Layout.Section>
            <Layout.Section>
              <Card>
                <BlockStack gap="300">
                  <Text as="h2" variant="headingMd">{t("home.today")}</Text>
                  <InlineGrid columns={{ xs: 2, md: 6 }} gap="300">
                    {FIGURES.map((name) => (
                      <BlockStack key={name} gap="100">
                        <Text as="p" tone="subdued">{t(`metrics.${name}`)}</Text>
                        <Text as="p" variant="headingLg">{formatNumber(data.today[name], language)}</Text>
                      </BlockStack>
                    ))}
                    <BlockStack gap="100">
                      <Text as="p" tone="subdued">{t("metrics.revenue")}</Text>
                      <Text as="p" variant="headingLg">{formatMoney(data.today.revenue, data.today.currency, language)}</Text>
                    </BlockStack>
                  </InlineGrid>
                </BlockStack>
              </Card>
            </Layout.Section>
          </Layout>
        )}
      </Loaded>
    </Page>
  );
}

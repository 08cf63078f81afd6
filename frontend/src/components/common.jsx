import { Banner, Box, Spinner } from "@shopify/polaris";
import { useI18n } from "../i18n/index.js";

/** What went wrong with a request, as the merchant reads it. */
export function ErrorBanner({ error, onDismiss }) {
  const { t } = useI18n();
  if (!error) return null;
  const status = error.status;
  let message;
  if (status === 404 || status === 405) message = t("errors.not_available");
  else if (status === 401 || status === 403) message = t("errors.session");
  else if (status) message = t("errors.status", { status });
  else message = t("errors.network");
  return (
    <Banner tone="critical" title={t("errors.title")} onDismiss={onDismiss}>
      <p>{message}</p>
    </Banner>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <Box padding="800">
      <Spinner accessibilityLabel={t("common.loading")} />
    </Box>
  );
}

/** Children once `load` has its data; the spinner or the error banner before. */
export function Loaded({ load, children }) {
  if (load.error) return <ErrorBanner error={load.error} />;
  if (!load.data) return <Loading />;
  return children(load.data);
}

export function formatDateTime(value, language) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString(language);
}

export function formatNumber(value, language) {
  return typeof value === "number" ? value.toLocaleString(language) : value == null ? "" : String(value);
}

export function formatMoney(amount, currency, language) {
  const number = Number(amount);
  if (!currency || Number.isNaN(number)) return amount == null ? "" : String(amount);
  try {
    return number.toLocaleString(language, { style: "currency", currency });
  } catch {
    return `${amount} ${currency}`;
  }
}

/** "3600" seconds → [1, "hours"]: the largest unit that divides it. */
export function splitSeconds(seconds) {
  for (const [unit, size] of [["days", 86400], ["hours", 3600], ["minutes", 60]]) {
    if (seconds && seconds % size === 0) return [seconds / size, unit];
  }
  return [seconds, "seconds"];
}

export const UNIT_SECONDS = { seconds: 1, minutes: 60, hours: 3600, days: 86400 };

export function formatDuration(seconds, t) {
  if (seconds == null) return t("common.none");
  const [count, unit] = splitSeconds(seconds);
  return t(`units.${unit}_count`, { count });
}

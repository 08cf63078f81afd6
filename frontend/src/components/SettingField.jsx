// One setting's input, chosen by its kind (settings-form.js). Every input has a visible label
// and shows the server's messages for its path.
import { useState } from "react";
import { BlockStack, Button, Checkbox, ChoiceList, InlineError, InlineStack, Select, Text, TextField } from "@shopify/polaris";
import { useI18n } from "../i18n/index.js";
import { TEXT_LANGUAGES, choicesOf, intervalsText, isObject, parseIntervals } from "../settings-form.js";
import { UNIT_SECONDS, splitSeconds } from "./common.jsx";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const UNITS = ["minutes", "hours", "days"];

export function labelOf(t, path) {
  const label = t(`settings.fields.${path}`);
  return label === `settings.fields.${path}` ? path.split(".").at(-1).replace(/_/g, " ") : label;
}

function choiceLabel(t, name) {
  const label = t(`settings.choices.${name}`);
  return label === `settings.choices.${name}` ? String(name).replace(/_/g, " ") : label;
}

const idOf = (path) => `setting-${path.replace(/\./g, "-")}`;

function numberOrRaw(text) {
  if (text.trim() === "") return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

/** A delay as count + unit; kept as seconds. Local text state so typing never jumps units. */
function DurationInput({ id, label, seconds, onChange, error, labelHidden }) {
  const { t } = useI18n();
  const [initialCount, initialUnit] = seconds == null ? ["", "hours"] : splitSeconds(seconds);
  const [count, setCount] = useState(String(initialCount));
  const [unit, setUnit] = useState(UNITS.includes(initialUnit) ? initialUnit : "minutes");
  const [shownUnit] = useState(initialUnit);
  const units = UNITS.includes(shownUnit) ? UNITS : ["seconds", ...UNITS];
  const update = (nextCount, nextUnit) => {
    setCount(nextCount);
    setUnit(nextUnit);
    const number = Number(nextCount);
    if (nextCount.trim() === "") onChange(null);
    else if (Number.isFinite(number)) onChange(Math.round(number * UNIT_SECONDS[nextUnit]));
    else onChange(nextCount);
  };
  return (
    <InlineStack gap="200" blockAlign="end" wrap={false}>
      <TextField id={id} label={label} labelHidden={labelHidden} type="number" autoComplete="off" value={count}
        onChange={(value) => update(value, unit)} error={error} />
      <Select id={`${id}-unit`} label={t("units.label", { what: label })} labelHidden value={unit}
        options={units.map((name) => ({ label: t(`units.${name}`), value: name }))}
        onChange={(value) => update(count, value)} />
    </InlineStack>
  );
}

function StepsInput({ id, label, value, onChange, error }) {
  const { t } = useI18n();
  const steps = Array.isArray(value) ? value : [];
  const [keys, setKeys] = useState(() => steps.map((_, index) => index));
  const change = (index, seconds) => onChange(steps.map((step, at) => (at === index ? seconds : step)));
  const add = () => {
    setKeys([...keys, Math.max(-1, ...keys) + 1]);
    onChange([...steps, (steps.at(-1) || 3600) * 2]);
  };
  const remove = (index) => {
    setKeys(keys.filter((_, at) => at !== index));
    onChange(steps.filter((_, at) => at !== index));
  };
  return (
    <fieldset id={id} style={{ border: 0, padding: 0, margin: 0 }}>
      <legend><Text as="span" variant="bodyMd">{label}</Text></legend>
      <BlockStack gap="200">
        {steps.map((seconds, index) => (
          <InlineStack key={keys[index] ?? index} gap="200" blockAlign="end">
            <DurationInput id={`${id}-${index}`} label={t("settings.step", { number: index + 1 })} seconds={seconds}
              onChange={(next) => change(index, next)} />
            {steps.length > 1 && (
              <Button onClick={() => remove(index)} accessibilityLabel={t("settings.remove_step", { number: index + 1 })}>
                {t("common.remove")}
              </Button>
            )}
          </InlineStack>
        ))}
        {steps.length < 5 && <InlineStack><Button onClick={add}>{t("settings.add_step")}</Button></InlineStack>}
        {error && <InlineError message={error} fieldID={`${id}-0`} />}
      </BlockStack>
    </fieldset>
  );
}

function HoursInput({ id, label, value, onChange, error }) {
  const { t } = useI18n();
  const hours = isObject(value) ? value : {};
  const change = (day, text) => {
    const next = { ...hours };
    if (text.trim() === "") delete next[day];
    else next[day] = text.includes(",") ? text.split(",").map((span) => span.trim()) : text.trim();
    onChange(Object.keys(next).length ? next : null);
  };
  return (
    <fieldset id={id} style={{ border: 0, padding: 0, margin: 0 }}>
      <legend><Text as="span" variant="bodyMd">{label}</Text></legend>
      <BlockStack gap="100">
        {DAYS.map((day) => (
          <TextField key={day} id={`${id}-${day}`} label={t(`days.${day}`)} autoComplete="off"
            placeholder="09:00-17:00" value={Array.isArray(hours[day]) ? hours[day].join(", ") : hours[day] || ""}
            onChange={(text) => change(day, text)} />
        ))}
        {error && <InlineError message={error} fieldID={`${id}-mon`} />}
      </BlockStack>
    </fieldset>
  );
}

/** One text per language ({en: "…", de: "…"}); an empty one is left out. */
function TextsInput({ id, label, value, onChange, error, help }) {
  const { t } = useI18n();
  const texts = isObject(value) ? value : {};
  const change = (language, text) => {
    const next = { ...texts };
    if (text.trim() === "") delete next[language];
    else next[language] = text;
    onChange(next);
  };
  return (
    <fieldset id={id} style={{ border: 0, padding: 0, margin: 0 }}>
      <legend><Text as="span" variant="bodyMd">{label}</Text></legend>
      <BlockStack gap="100">
        {help && <Text as="p" tone="subdued">{help}</Text>}
        {TEXT_LANGUAGES.map((language) => (
          <TextField key={language} id={`${id}-${language}`} label={t("settings.in_language", { language })}
            autoComplete="off" multiline={2} value={texts[language] || ""} onChange={(text) => change(language, text)} />
        ))}
        {error && <InlineError message={error} fieldID={`${id}-en`} />}
      </BlockStack>
    </fieldset>
  );
}

function CapInput({ id, label, value, onChange, error }) {
  const { t } = useI18n();
  const cap = isObject(value) ? value : null;
  return (
    <BlockStack gap="100">
      <Checkbox id={id} label={label} checked={Boolean(cap)}
        onChange={(on) => onChange(on ? { max_messages: 10, per_hours: 24 } : null)} />
      {cap && (
        <InlineStack gap="200">
          <TextField id={`${id}-max`} label={t("settings.fields.governor.frequency_caps.marketing.max_messages")}
            type="number" autoComplete="off" value={String(cap.max_messages ?? "")}
            onChange={(text) => onChange({ ...cap, max_messages: numberOrRaw(text) })} />
          <TextField id={`${id}-per`} label={t("settings.fields.governor.frequency_caps.marketing.per_hours")}
            type="number" autoComplete="off" value={String(cap.per_hours ?? "")}
            onChange={(text) => onChange({ ...cap, per_hours: numberOrRaw(text) })} />
        </InlineStack>
      )}
      {error && <InlineError message={error} fieldID={id} />}
    </BlockStack>
  );
}

/** Post-purchase rules: per rule the product ids (comma-separated), the URL and the note. */
function RulesInput({ id, label, value, onChange, error, help }) {
  const { t } = useI18n();
  const rules = Array.isArray(value) ? value : [];
  const change = (index, key, fieldValue) => onChange(rules.map((rule, at) => (at === index
    ? { ...rule, [key]: fieldValue } : rule)));
  const ids = (text) => text.split(",").map((part) => part.trim()).filter(Boolean);
  return (
    <fieldset id={id} style={{ border: 0, padding: 0, margin: 0 }}>
      <legend><Text as="span" variant="bodyMd">{label}</Text></legend>
      <BlockStack gap="200">
        {help && <Text as="p" tone="subdued">{help}</Text>}
        {rules.map((rule, index) => (
          <BlockStack gap="100" key={index}>
            <Text as="h4" variant="headingSm">{t("settings.rules.rule", { number: index + 1 })}</Text>
            <TextField id={`${id}-${index}-product_ids`} label={t("settings.rules.product_ids")} autoComplete="off"
              value={(rule.product_ids || []).join(", ")}
              onChange={(text) => change(index, "product_ids", ids(text))} />
            <TextField id={`${id}-${index}-url`} label={t("settings.rules.url")} autoComplete="off" type="url"
              value={rule.url || ""} onChange={(text) => change(index, "url", text)} />
            <TextField id={`${id}-${index}-note`} label={t("settings.rules.note")} autoComplete="off"
              maxLength={200} value={rule.note || ""} onChange={(text) => change(index, "note", text)} />
            <InlineStack>
              <Button onClick={() => onChange(rules.filter((_, at) => at !== index))}>
                {t("settings.rules.remove", { number: index + 1 })}
              </Button>
            </InlineStack>
          </BlockStack>
        ))}
        <InlineStack>
          <Button onClick={() => onChange([...rules, { product_ids: [], url: "", note: "" }])}>
            {t("settings.rules.add")}
          </Button>
        </InlineStack>
        {error && <InlineError message={error} fieldID={id} />}
      </BlockStack>
    </fieldset>
  );
}

export default function SettingField({ field, value, onChange, error }) {
  const { t } = useI18n();
  const id = idOf(field.path);
  const label = labelOf(t, field.path);
  const help = field.description || undefined;
  switch (field.kind) {
    case "boolean":
      return <Checkbox id={id} label={label} helpText={help} checked={Boolean(value)} onChange={onChange} error={error} />;
    case "tristate":
      return (
        <Select id={id} label={label} helpText={help} error={error}
          value={value === true ? "on" : value === false ? "off" : "auto"}
          options={["auto", "on", "off"].map((name) => ({ label: t(`settings.tristate.${name}`), value: name }))}
          onChange={(choice) => onChange(choice === "on" ? true : choice === "off" ? false : null)} />
      );
    case "select":
      return (
        <Select id={id} label={label} helpText={help} error={error} value={value ?? ""}
          options={choicesOf(field).map((name) => ({ label: choiceLabel(t, name), value: name }))}
          onChange={onChange} />
      );
    case "choices":
      return (
        <ChoiceList allowMultiple title={label} error={error} selected={Array.isArray(value) ? value : []}
          choices={choicesOf(field).map((name) => ({ label: choiceLabel(t, name), value: name }))}
          onChange={onChange} />
      );
    case "duration":
      return (
        <BlockStack gap="100">
          <DurationInput id={id} label={label} seconds={typeof value === "number" ? value : null}
            onChange={onChange} error={error} />
          {help && <Text as="p" tone="subdued">{help}</Text>}
        </BlockStack>
      );
    case "steps":
      return (
        <BlockStack gap="100">
          <StepsInput id={id} label={label} value={value} onChange={onChange} error={error} />
          {help && <Text as="p" tone="subdued">{help}</Text>}
        </BlockStack>
      );
    case "hours":
      return <HoursInput id={id} label={label} value={value} onChange={onChange} error={error} />;
    case "texts":
      return <TextsInput id={id} label={label} value={value} onChange={onChange} error={error} help={help} />;
    case "rules":
      return <RulesInput id={id} label={label} value={value} onChange={onChange} error={error} help={help} />;
    case "cap":
      return <CapInput id={id} label={label} value={value} onChange={onChange} error={error} />;
    case "number":
      return (
        <TextField id={id} label={label} helpText={help} error={error} type="number" autoComplete="off"
          min={field.minimum} max={field.maximum} value={value == null ? "" : String(value)}
          onChange={(text) => onChange(text.trim() === "" && field.nullable ? null : numberOrRaw(text) ?? text)} />
      );
    case "intervals":
      return (
        <TextField id={id} label={label} helpText={help} error={error} multiline={3} autoComplete="off"
          placeholder="632910392 30" value={intervalsText(value)} onChange={(text) => onChange(parseIntervals(text))} />
      );
    case "lines":
      return (
        <TextField id={id} label={label} helpText={help || t("settings.one_per_line")} error={error} multiline={3}
          autoComplete="off" value={Array.isArray(value) ? value.join("\n") : ""}
          onChange={(text) => onChange(text.split("\n").map((line) => line.trim()).filter(Boolean))} />
      );
    default:
      return (
        <TextField id={id} label={label} helpText={help} error={error} autoComplete="off"
          value={value == null ? "" : String(value)}
          onChange={(text) => onChange(text === "" && field.nullable ? null : text)} />
      );
  }
}

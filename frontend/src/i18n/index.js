// The UI's strings: one catalogue per language (en.json, de.json), chosen from the `locale`
// query parameter (Shopify's admin passes it; the WordPress plugin passes the user's locale),
// English when the language has no catalogue. Polaris's own strings come with Polaris.
import { createContext, useContext } from "react";
import en from "./en.json";
import polarisEn from "@shopify/polaris/locales/en.json";

/** English is in the entry chunk; every other language is a chunk of its own, loaded first. */
const LOADERS = {
  de: () => Promise.all([import("./de.json"), import("@shopify/polaris/locales/de.json")]),
};
const CATALOGUES = { en: { ui: en, polaris: polarisEn } };

/** "de-DE", "de_DE", "de" → "de"; anything without a catalogue → "en". */
export function languageOf(locale) {
  const language = String(locale || "").toLowerCase().split(/[-_]/)[0];
  return Object.hasOwn(LOADERS, language) ? language : "en";
}

/** Resolves once `language`'s catalogues are at hand (at once for English). */
export async function loadLanguage(language) {
  if (CATALOGUES[language] || !LOADERS[language]) return;
  const [ui, polaris] = await LOADERS[language]();
  CATALOGUES[language] = { ui: ui.default, polaris: polaris.default };
}

function lookup(catalogue, key) {
  return key.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), catalogue);
}

/** A translator for one language: t("settings.saved"); t("settings.step", {number: 2}) fills {number}. */
export function translator(language) {
  const { ui } = CATALOGUES[language] || CATALOGUES.en;
  return (key, values) => {
    let text = lookup(ui, key);
    if (typeof text !== "string") text = lookup(en, key);
    if (typeof text !== "string") return key;
    return values ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole)) : text;
  };
}

export function polarisStrings(language) {
  return (CATALOGUES[language] || CATALOGUES.en).polaris;
}

export const I18nContext = createContext({ language: "en", t: translator("en") });
export const useI18n = () => useContext(I18nContext);

// Helpers for the forms that post to the admin API: marshmallow's error shape, debounced values.
import { useEffect, useMemo, useState } from "react";

/** Marshmallow's messages (a list, or a nested object of lists) as one sentence; undefined when none. */
export function messageOf(errors) {
  if (errors == null) return undefined;
  if (typeof errors === "string") return errors;
  const parts = [];
  const walk = (node) => {
    if (node == null) return;
    if (typeof node === "string") parts.push(node);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === "object") Object.values(node).forEach(walk);
  };
  walk(errors);
  return parts.length ? parts.join(" ") : undefined;
}

/** The `errors` object of a 422 answer (an ApiError), or null for any other error. */
export function errorsOf(error) {
  return error && error.status === 422 && error.body && typeof error.body.errors === "object" ? error.body.errors : null;
}

/** `value` once it has not changed for `delay` ms (compared by its JSON). */
export function useDebounced(value, delay) {
  const key = JSON.stringify(value);
  const [settled, setSettled] = useState(key);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(key), delay);
    return () => clearTimeout(timer);
  }, [key, delay]);
  return useMemo(() => JSON.parse(settled), [settled]);  // the same object while nothing changed
}

/** "de, at fr" → ["DE", "AT", "FR"] (or as typed with `upper` false); [] for nothing. */
export function listOf(text, upper = false) {
  return String(text || "").split(/[\s,;]+/).filter(Boolean).map((item) => (upper ? item.toUpperCase() : item));
}

/** The {{named}} variables of a text, in order of first appearance ({{1}} and the like left out). */
export function variablesIn(text) {
  const found = [];
  for (const match of String(text || "").matchAll(/\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g)) {
    if (!found.includes(match[1])) found.push(match[1]);
  }
  return found;
}

export const TEMPLATE_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "pt_BR"];

/** "pt_BR" → "Brazilian Portuguese" in the UI's language. */
export function languageName(code, uiLanguage) {
  try {
    return new Intl.DisplayNames([uiLanguage], { type: "language" }).of(code.replace("_", "-")) || code;
  } catch {
    return code;
  }
}

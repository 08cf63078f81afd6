// The app's pages: their keys (the `page` query parameter) and their code, each in its own chunk.
import { lazy } from "react";

export const PAGES = [
  { key: "home", load: lazy(() => import("./pages/HomePage.jsx")) },
  { key: "automations", load: lazy(() => import("./pages/AutomationsPage.jsx")) },
  { key: "campaigns", load: lazy(() => import("./pages/CampaignsPage.jsx")) },
  { key: "dashboard", load: lazy(() => import("./pages/DashboardPage.jsx")) },
  { key: "templates", load: lazy(() => import("./pages/TemplatesPage.jsx")) },
  { key: "contacts", load: lazy(() => import("./pages/ContactsPage.jsx")) },
  { key: "messages", load: lazy(() => import("./pages/MessagesPage.jsx")) },
  { key: "settings", load: lazy(() => import("./pages/SettingsPage.jsx")) },
];

export function pageOf(search) {
  const key = new URLSearchParams(search).get("page");
  return PAGES.find((page) => page.key === key) || PAGES[0];
}

/** The same URL (shop, host, store, locale… kept) showing another page. */
export function hrefOf(key, search = window.location.search) {
  const params = new URLSearchParams(search);
  params.set("page", key);
  return `${window.location.pathname}?${params}`;
}

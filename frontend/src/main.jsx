import { createRoot } from "react-dom/client";
import "@shopify/polaris/build/esm/styles.css";
import "./app.css";
import App from "./App.jsx";
import { createApi } from "./api.js";
import { tokenSource } from "./auth.js";
import { languageOf, loadLanguage } from "./i18n/index.js";

const params = new URLSearchParams(window.location.search);
const tokens = tokenSource(params);
const language = languageOf(params.get("locale"));
document.documentElement.lang = language;

loadLanguage(language).catch(() => null).then(() => {
  createRoot(document.getElementById("app")).render(
    <App api={tokens ? createApi(tokens) : null} embedded={tokens ? tokens.kind : null} language={language} />,
  );
});

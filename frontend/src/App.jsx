import { Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { AppProvider, Banner, Box, Frame, Page, Spinner, Tabs } from "@shopify/polaris";
import { I18nContext, polarisStrings, translator } from "./i18n/index.js";
import { PAGES, hrefOf, pageOf } from "./pages.js";
import { ApiContext } from "./useApi.js";

/** Inside Shopify: App Bridge's navigation menu, shown by the admin beside the app. */
function ShopifyNavigation({ t }) {
  return (
    <ui-nav-menu>
      {PAGES.map((page) => (
        <a key={page.key} href={hrefOf(page.key)} rel={page.key === "home" ? "home" : undefined}>
          {t(`nav.${page.key}`)}
        </a>
      ))}
    </ui-nav-menu>
  );
}

/** Elsewhere (WordPress): Polaris tabs at the top of the page. */
function TabNavigation({ t, current, go }) {
  const tabs = PAGES.map((page) => ({ id: `nav-${page.key}`, content: t(`nav.${page.key}`) }));
  const selected = PAGES.findIndex((page) => page.key === current);
  return (
    <nav className="wcc-nav" aria-label={t("nav.label")}>
      <Tabs tabs={tabs} selected={selected} onSelect={(index) => go(PAGES[index].key)} />
    </nav>
  );
}

export default function App({ api, embedded, language }) {
  const t = useMemo(() => translator(language), [language]);
  const [page, setPage] = useState(() => pageOf(window.location.search));

  useEffect(() => {
    const onPop = () => setPage(pageOf(window.location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  const go = useCallback((key) => {
    window.history.pushState(null, "", hrefOf(key));
    setPage(pageOf(window.location.search));
  }, []);

  const Current = page.load;
  const i18n = useMemo(() => ({ language, t }), [language, t]);
  return (
    <AppProvider i18n={polarisStrings(language)}>
      <I18nContext.Provider value={i18n}>
        <ApiContext.Provider value={api}>
          <Frame>
            {embedded === "shopify" ? <ShopifyNavigation t={t} /> : <TabNavigation t={t} current={page.key} go={go} />}
            <main>
              {api ? (
                <Suspense fallback={<Box padding="800"><Spinner accessibilityLabel={t("common.loading")} /></Box>}>
                  <Current embedded={embedded} go={go} />
                </Suspense>
              ) : (
                <Page title={t("app.title")}>
                  <Banner tone="critical" title={t("app.not_embedded_title")}>
                    <p>{t("app.not_embedded")}</p>
                  </Banner>
                </Page>
              )}
            </main>
          </Frame>
        </ApiContext.Provider>
      </I18nContext.Provider>
    </AppProvider>
  );
}

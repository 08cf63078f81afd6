// A campaign report's bar chart of revenue per recipient by group (its own chunk: polaris-viz).
import { BarChart, PolarisVizProvider } from "@shopify/polaris-viz";
import "@shopify/polaris-viz/build/esm/styles.css";

export default function RevenueChart({ points, name, labelledBy }) {
  return (
    <PolarisVizProvider>
      {/* the figures are in the table above: the drawing is one image to assistive technology */}
      <div style={{ height: 240 }} role="img" aria-labelledby={labelledBy} data-testid="revenue-chart">
        <div aria-hidden="true" style={{ height: "100%" }}>
          <BarChart data={[{ name, data: points }]} theme="Light" showLegend={false} />
        </div>
      </div>
    </PolarisVizProvider>
  );
}

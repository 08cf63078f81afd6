// The admin app's build: one entry (src/main.jsx), pages split into their own chunks
// (React.lazy), a manifest.json that the Flask view reads to name the hashed files.
// Output: connector/static/admin/ (git-ignored, carried in the wheel), served at /static/admin/.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "/static/admin/",
  build: {
    outDir: "../connector/static/admin",
    emptyOutDir: true,
    manifest: "manifest.json",
    target: "es2020",
    rolldownOptions: { input: "src/main.jsx" },
  },
});

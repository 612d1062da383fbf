/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const backend = process.env.HEADRACE_API_URL ?? "http://127.0.0.1:8100";

export default defineConfig({
  base: "/",
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: true, ws: true },
      "/healthz": backend,
    },
  },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: {
        // Heavy editors and graphs load only on the pages that use them.
        manualChunks(id: string) {
          if (!id.includes("node_modules")) return undefined;
          // The JavaScript grammar loads only with a code step's script editor.
          if (/node_modules\/@(codemirror\/lang-javascript|lezer\/javascript|codemirror\/autocomplete)\//.test(id)) return "codemirror-js";
          if (id.includes("@codemirror") || id.includes("@lezer")) return "codemirror";
          // d3 modules are shared by the graph (zoom, drag) and the charts: their own chunk.
          if (/node_modules\/(d3-|internmap)/.test(id)) return "d3";
          if (id.includes("@xyflow") || id.includes("dagre")) return "graph";
          if (id.includes("recharts") || id.includes("victory-vendor")) return "charts";
          if (/node_modules\/(react|react-dom|scheduler|react-router|react-router-dom|@remix-run)\//.test(id)) return "react";
          return undefined;
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    globals: false,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});

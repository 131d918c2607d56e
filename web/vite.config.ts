import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The build goes where the server serves static files from; `scripts/build-web` runs it.
// `npm run dev` proxies the API to a local `runstream server` (RUNSTREAM_URL).
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
const api = env?.RUNSTREAM_URL ?? "http://127.0.0.1:8787";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../server/runstream_server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        // Vega is most of the weight and changes rarely: its own chunk caches well.
        manualChunks: (id: string) => (/node_modules\/vega/.test(id) ? "vega" : undefined),
      },
    },
  },
  server: { proxy: { "/api": { target: api, ws: true } } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});

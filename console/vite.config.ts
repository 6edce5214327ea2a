// Vite build of the console. The SDK is taken from its TypeScript source (sdks/typescript/src),
// so building the console needs no prebuilt SDK and always uses the contract of this checkout.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

const sdk = fileURLToPath(new URL("../sdks/typescript/src/index.ts", import.meta.url));

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  resolve: { alias: { "@aos/sdk": sdk } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Identical inputs give identical files: CI rebuilds and compares with the committed dist/.
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` against a local `aos serve` (AOS_URL, default http://127.0.0.1:8080).
    proxy: { "/api": process.env.AOS_URL ?? "http://127.0.0.1:8080", "/healthz": process.env.AOS_URL ?? "http://127.0.0.1:8080" },
  },
});

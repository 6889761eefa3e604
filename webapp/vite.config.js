import { defineConfig } from "vite";

// Built into the Python package, served by `graphmill serve` at /ui (no Node at run time).
export default defineConfig({
  base: "/ui/",
  build: {
    outDir: "../graphmill/api/ui",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
});

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The local Taskyard server (`taskyard serve`) listens here; `npm run dev`
// forwards API, health and WebSocket traffic to it so the UI can use
// same-origin URLs in development exactly as it does when embedded.
const server = 'http://127.0.0.1:7777';

export default defineConfig({
  plugins: [react()],
  build: {
    // The server embeds ui/dist; keep the path in step with it.
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    proxy: {
      // `ws: true` also forwards WebSocket upgrades (run logs, terminals).
      '/api': { target: server, changeOrigin: true, ws: true },
      '/health': { target: server, changeOrigin: true },
      '/ready': { target: server, changeOrigin: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});

import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The appliance serves these files from the control module's classpath folder
// io/vvolgate/control/console/ (see control/pom.xml, which runs `npm ci` and `npm run build`).
const outDir = fileURLToPath(new URL('../target/classes/io/vvolgate/control/console', import.meta.url));

export default defineConfig({
  base: '/',
  // JSX through esbuild's automatic runtime, pointed at Preact: no framework plugin needed.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` against a running appliance: VVOLGATE_API=http://127.0.0.1:8080 npm run dev
    proxy: { '/api': process.env.VVOLGATE_API || 'http://127.0.0.1:8080' },
  },
});

import { defineConfig } from '@playwright/test';

// One worker: the suite walks one workspace from first run to sign-out, in order.
const port = Number(process.env.E2E_PORT ?? 3210);
const smtpPort = Number(process.env.E2E_SMTP_PORT ?? 2525);

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        viewport: { width: 1280, height: 800 },
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      },
    },
  ],
  webServer: [
  // A real SMTP server; every message lands in a Maildir the tests read.
  {
    command: `sh -c 'rm -rf target/e2e-mail && exec .tools/venv/bin/aiosmtpd -n -l 127.0.0.1:${smtpPort} -c aiosmtpd.handlers.Mailbox target/e2e-mail'`,
    cwd: '..',
    port: smtpPort,
    timeout: 30_000,
    reuseExistingServer: false,
  },
  // A brand-new embedded database each run, so first-run setup is really the first run.
  {
    // Stop a cluster a killed earlier run may have left, then start from nothing.
    command: `sh -c 'target/debug/rollcall db stop >/dev/null; rm -rf target/e2e-data && exec target/debug/rollcall serve'`,
    cwd: '..',
    url: `http://127.0.0.1:${port}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 15_000 },
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      ROLLCALL_DATA_DIR: 'target/e2e-data',
      ROLLCALL_LISTEN: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: 'target/site',
      RUST_LOG: 'warn',
      ROLLCALL_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      ROLLCALL_MAIL_FROM: 'Rollcall <rollcall@acme.test>',
    },
  },
  ],
});

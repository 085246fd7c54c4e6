import { defineConfig } from '@playwright/test';
import { dataDir, directoryPorts, directorySizes, firstRunDataDir, firstRunPort, importDataDir, importPort, mailDir, port, smtpPort } from './servers';
import { googleIssuer, providerEnv } from './tests/provider';

// Every test makes its own workspace and people (tests/support.ts: newWorkspace, addUser), with
// addresses no other test uses, so tests run in parallel, in any order, and any one alone. The
// first-run test needs a server with no workspace at all: it gets a server of its own (below).
export default defineConfig({
  testDir: './tests',
  fullyParallel: true,
  workers: 2,
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
    name: 'smtp',
    command: `sh -c 'rm -rf ${mailDir} && exec .tools/venv/bin/aiosmtpd -n -l 127.0.0.1:${smtpPort} -c aiosmtpd.handlers.Mailbox ${mailDir}'`,
    cwd: '..',
    port: smtpPort,
    timeout: 30_000,
    reuseExistingServer: false,
  },
  // Three local OpenID providers, Google-, Microsoft- and Slack-like, for "Sign in with …"
  // (oidc/issuers.mjs; tests/provider.ts drives their sign-in pages). Started before Rollcall,
  // which reads their discovery documents.
  {
    name: 'openid providers',
    command: 'node oidc/issuers.mjs',
    cwd: '.',
    url: `${googleIssuer}/.well-known/openid-configuration`,
    timeout: 30_000,
    reuseExistingServer: false,
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
  },
  // The server the tests share, on a brand-new embedded database each run. Tests create their
  // workspaces and people with the `rollcall` CLI, which joins this server's cluster.
  rollcallServer('rollcall', dataDir, port, {
    ROLLCALL_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    ROLLCALL_MAIL_FROM: 'Rollcall <rollcall@acme.test>',
    ...providerEnv(port),
  }),
  // A second server on its own brand-new data directory, for the first-run test only
  // (tests/00-first-run.spec.ts): no other test touches it, so it is empty when that test
  // starts, whatever else runs and in whatever order. It sends no mail.
  rollcallServer('rollcall first run', firstRunDataDir, firstRunPort, {}),
  // The fakes of Google Workspace, Entra ID with Graph, and Slack (sign-in, consent and
  // directory on one origin each), and a server of their own for the import journeys.
  ...(['google', 'microsoft', 'slack'] as const).map((flavor) => ({
    name: `fake ${flavor} directory`,
    command: `target/debug/fake-directory --flavor ${flavor} --with-idp --listen 127.0.0.1:${directoryPorts[flavor]} --people ${directorySizes[flavor]}`,
    cwd: '..',
    port: directoryPorts[flavor],
    timeout: 30_000,
    reuseExistingServer: false,
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
  })),
  rollcallServer('rollcall import', importDataDir, importPort, {
    ROLLCALL_PUBLIC_URL: `http://127.0.0.1:${importPort}`,
    ROLLCALL_GOOGLE_CLIENT_ID: 'fake-google-client',
    ROLLCALL_GOOGLE_CLIENT_SECRET: 'fake-google-secret',
    ROLLCALL_GOOGLE_ISSUER: `http://127.0.0.1:${directoryPorts.google}`,
    ROLLCALL_GOOGLE_DIRECTORY_URL: `http://127.0.0.1:${directoryPorts.google}`,
    ROLLCALL_MICROSOFT_CLIENT_ID: 'fake-microsoft-client',
    ROLLCALL_MICROSOFT_CLIENT_SECRET: 'fake-microsoft-secret',
    ROLLCALL_MICROSOFT_AUTHORITY: `http://127.0.0.1:${directoryPorts.microsoft}`,
    ROLLCALL_GRAPH_URL: `http://127.0.0.1:${directoryPorts.microsoft}`,
    ROLLCALL_SLACK_CLIENT_ID: 'fake-slack-client',
    ROLLCALL_SLACK_CLIENT_SECRET: 'fake-slack-secret',
    ROLLCALL_SLACK_ISSUER: `http://127.0.0.1:${directoryPorts.slack}`,
    ROLLCALL_SLACK_API_URL: `http://127.0.0.1:${directoryPorts.slack}/api`,
  }),
  ],
});

/** A Rollcall server on a brand-new embedded database in `dir`, listening on `listen`. */
function rollcallServer(name: string, dir: string, listen: number, env: Record<string, string>) {
  return {
    name,
    // Stop a cluster a killed earlier run may have left, then start from nothing.
    command: `sh -c 'target/debug/rollcall db stop >/dev/null; rm -rf ${dir} && exec target/debug/rollcall serve'`,
    cwd: '..',
    url: `http://127.0.0.1:${listen}/readyz`,
    timeout: 120_000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: 'SIGTERM' as const, timeout: 15_000 },
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
    env: {
      ROLLCALL_DATA_DIR: dir,
      ROLLCALL_LISTEN: `127.0.0.1:${listen}`,
      LEPTOS_SITE_ROOT: 'target/site',
      RUST_LOG: 'warn',
      ...env,
    },
  };
}

// Where the end-to-end servers listen and keep their state: shared by playwright.config.ts,
// which starts them, and tests/support.ts, which reaches into them (CLI, database, Maildir).
import { join } from 'node:path';

/** The repository root: the servers and the `rollcall` CLI run from here. */
export const repo = join(__dirname, '..');

/** The server every test but the first-run one uses; each test makes its own workspace on it. */
export const port = Number(process.env.E2E_PORT ?? 3210);
export const dataDir = 'target/e2e-data';

/** A second server on a data directory of its own, kept empty for the first-run test alone. */
export const firstRunPort = Number(process.env.E2E_FIRST_RUN_PORT ?? port + 1);
export const firstRunDataDir = 'target/e2e-first-run';
export const firstRunURL = `http://127.0.0.1:${firstRunPort}`;

/** The real SMTP server (aiosmtpd); every message lands in this Maildir. */
export const smtpPort = Number(process.env.E2E_SMTP_PORT ?? 2525);
export const mailDir = 'target/e2e-mail';

/**
 * The local OpenID providers (oidc/issuers.mjs, which reads the same variables): Google-,
 * Microsoft- (Entra ID) and Slack-like, for "Sign in with …". tests/provider.ts drives them.
 */
export const googlePort = Number(process.env.E2E_GOOGLE_PORT ?? 3301);
export const microsoftPort = Number(process.env.E2E_MICROSOFT_PORT ?? 3302);
export const slackPort = Number(process.env.E2E_SLACK_PORT ?? 3303);

/** Where tests write screenshots. `scripts/screenshots` copies them into docs/. */
export const screenshotDir = 'target/screenshots';

/**
 * A server for the directory-import journeys (tests/04-import.spec.ts), whose Google, Microsoft
 * and Slack are the fakes of those services (`fake-directory --with-idp`: each provider's
 * sign-in, consent and directory API on one origin, with a generated directory). Connected
 * organisations are unique per provider across a server's workspaces, and each fake is one
 * organisation, so these journeys get a server of their own.
 */
export const importPort = Number(process.env.E2E_IMPORT_PORT ?? port + 3);
export const importDataDir = 'target/e2e-import';
export const directoryPorts = {
  google: Number(process.env.E2E_GOOGLE_DIRECTORY_PORT ?? 3311),
  microsoft: Number(process.env.E2E_MICROSOFT_DIRECTORY_PORT ?? 3312),
  slack: Number(process.env.E2E_SLACK_DIRECTORY_PORT ?? 3313),
};
/** How many people each fake directory holds (the journeys page through them). */
export const directorySizes = { google: 1200, microsoft: 300, slack: 240 };

import AxeBuilder from '@axe-core/playwright';
import { Browser, expect, Page, test as base } from '@playwright/test';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, mailDir, repo, screenshotDir } from '../servers';

/**
 * Playwright's `test`, with every page watched for Content-Security-Policy violations: the
 * browser reports each blocked script, style or connection on the console, and a test whose
 * pages reported one fails, naming it.
 */
export const test = base.extend({
  page: async ({ page, browser }, use) => {
    const violations: string[] = [];
    const watch = (watched: Page) =>
      watched.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(`${watched.url()}: ${message.text()}`);
      });
    watch(page);
    // Pages of the contexts a test opens itself (an invitee's, a second person's) are watched too.
    const newContext = browser.newContext.bind(browser);
    browser.newContext = async (options?: Parameters<typeof newContext>[0]) => {
      const context = await newContext(options);
      context.on('page', watch);
      return context;
    };
    await use(page);
    browser.newContext = newContext;
    expect(violations, 'Content-Security-Policy violations').toEqual([]);
  },
});

/** Waits until the WASM app has hydrated the server-rendered page. */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1, { timeout: 30_000 });
}

/** Fails on any serious or critical accessibility violation on the current page. */
export async function expectAccessible(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(' ')).join('\n  ')}`);
  expect(report, `accessibility violations on ${page.url()}`).toEqual([]);
}

/** Marks the current document, so `expectSameDocument` can tell that nothing reloaded it. */
export async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
}

/** Fails if the page was reloaded or left since `markDocument`: the mark lives only in that document. */
export async function expectSameDocument(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
}

/** Where a test writes a screenshot: under target/, never into tracked files (see scripts/screenshots). */
export function screenshotPath(name: string): string {
  return join(repo, screenshotDir, name);
}

// --- Workspaces and people ---------------------------------------------------------------------
//
// Every test makes its own workspace on the shared server and its own people in it, with the
// `rollcall` CLI (which joins the cluster the e2e server started). Addresses carry the
// workspace's random tag (ada.3f9c1a2b@acme.test), so no address is in two workspaces: the
// generic /login needs no workspace choice, and each test's mail is its own in the Maildir.

export interface Person {
  email: string;
  /** Empty for someone created without one (status Imported). */
  password: string;
  givenName: string;
  familyName: string;
  /** "Given Family", as the app shows it. */
  name: string;
}

export interface Workspace {
  slug: string;
  name: string;
  /** The first admin, Ada Lovelace. */
  admin: Person;
  /** An address in this workspace only: `ada` -> ada.<tag>@acme.test (or ada@acme.test, see `plainEmails`). */
  email(local: string): string;
}

const rollcallBin = join(repo, 'target/debug/rollcall');

/** Runs the `rollcall` CLI against the e2e server's data directory; resolves to its standard output. */
export function rollcall(args: string[], stdin = '', dir = dataDir): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      rollcallBin,
      args,
      { cwd: repo, env: { ...process.env, ROLLCALL_DATA_DIR: join(repo, dir), RUST_LOG: 'warn' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`rollcall ${args.join(' ')} failed: ${String(stderr).trim() || error.message}`));
        else resolve(String(stdout));
      },
    );
    // A command that exits without reading its input is judged by its exit status, not by EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin);
  });
}

/**
 * A new workspace with its first admin, Ada Lovelace. Named "Acme <tag>" unless `name` is given
 * (names need not be unique; slugs are). With `plainEmails`, addresses have no tag
 * (ada@acme.test): for a realistic screenshot; sign in through `/o/<slug>/login` then, since
 * another run of that test may have made the same addresses in another workspace.
 */
export async function newWorkspace(options: { name?: string; plainEmails?: boolean; dir?: string } = {}): Promise<Workspace> {
  const tag = randomBytes(4).toString('hex');
  const name = options.name ?? `Acme ${tag}`;
  const email = (local: string) => (options.plainEmails ? `${local}@acme.test` : `${local}.${tag}@acme.test`);
  const admin = person('Ada', 'Lovelace', email('ada'), 'correct horse battery staple');
  const out = await rollcall(
    [
      'org',
      'create',
      '--name',
      name,
      '--admin-email',
      admin.email,
      '--admin-given-name',
      admin.givenName,
      '--admin-family-name',
      admin.familyName,
      '--admin-password-stdin',
    ],
    `${admin.password}\n`,
    options.dir,
  );
  const slug = out.split('\n')[0].trim();
  expect(slug, `the slug printed by rollcall org create (output: ${out})`).toMatch(/^[a-z0-9-]+$/);
  return { slug, name, admin, email };
}

/**
 * Adds someone to a workspace, as `rollcall user create` does (source "Added by hand"). With a
 * password they are active and can sign in; without one they are Imported (not invited yet).
 * The address defaults to the workspace's address for their lower-cased first name.
 */
export async function addUser(
  workspace: Workspace,
  who: { givenName: string; familyName: string; email?: string; password?: string; role?: 'admin' | 'member' },
): Promise<Person> {
  const added = person(who.givenName, who.familyName, who.email ?? workspace.email(who.givenName.toLowerCase()), who.password ?? '');
  const args = ['user', 'create', '--org', workspace.slug, '--email', added.email, '--role', who.role ?? 'member'];
  args.push('--given-name', added.givenName, '--family-name', added.familyName);
  if (added.password) args.push('--password-stdin');
  await rollcall(args, added.password ? `${added.password}\n` : '');
  return added;
}

/** Adds several people at once (see `addUser`), in order. */
export function addUsers(
  workspace: Workspace,
  people: { givenName: string; familyName: string; email?: string; password?: string; role?: 'admin' | 'member' }[],
): Promise<Person[]> {
  return Promise.all(people.map((who) => addUser(workspace, who)));
}

function person(givenName: string, familyName: string, email: string, password: string): Person {
  return { email, password, givenName, familyName, name: `${givenName} ${familyName}`.trim() };
}

/**
 * Fills in and submits a sign-in form: the generic `/login` by default, or a workspace's own
 * (`/o/<slug>/login`). Callers check where it lands.
 */
export async function signIn(page: Page, who: { email: string; password: string }, at = '/login') {
  await page.goto(at);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs a workspace's admin in and waits for the Users tab. */
export async function signInAsAdmin(page: Page, workspace: Workspace) {
  await signIn(page, workspace.admin);
  await expect(page).toHaveURL(/\/users$/);
}

/**
 * Invites people through the same server function "Invite people" uses (as a CSV, so names can
 * come along). `page` must be signed in as an admin of the workspace they join.
 */
export async function invite(page: Page, people: { email: string; givenName?: string; familyName?: string }[]) {
  const csv = people.map((p) => [p.email, p.givenName ?? '', p.familyName ?? ''].join(',')).join('\n');
  const res = await page.request.post('/api/send_invites', { form: { csv } });
  expect(res.status(), await res.text()).toBe(200);
}

/** Opens an invitation link in a browser context of its own, joins, and lands signed in. */
export async function acceptInvite(browser: Browser, link: string, workspace: Workspace, who: { givenName: string; familyName: string; password: string }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await page.getByLabel('First name').fill(who.givenName);
  await page.getByLabel('Last name').fill(who.familyName);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: `Join ${workspace.name}` }).click();
  await expect(page).toHaveURL(/\/profile$/);
  await context.close();
}

/** Opens the page of the one user whose address is `email`, hydrated. */
export async function openUser(page: Page, email: string) {
  await page.goto(`/users?q=${encodeURIComponent(email)}`);
  await page.getByRole('row').nth(1).getByRole('link').click();
  await hydrated(page);
}

/** A regular expression matching `text` literally. */
export function literally(text: string, flags?: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags);
}

// --- Mail ---------------------------------------------------------------------------------------

/** Decodes a quoted-printable or 7bit MIME body enough to find links in it. */
function decode(body: string, encoding: string): string {
  if (/quoted-printable/i.test(encoding)) {
    return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  }
  if (/base64/i.test(encoding)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/**
 * Every invitation link (or, with `kind` "access", every link to get back in) mailed to `to`,
 * oldest first, as the SMTP server received them.
 */
export function mailedLinks(to: string, kind: 'invite' | 'access' = 'invite'): string[] {
  const dir = join(repo, mailDir, 'new');
  if (!existsSync(dir)) return [];
  const recipient = new RegExp(`^To: (?:.*<)?${literally(to).source}>?\\s*$`, 'mi');
  const links: { at: number; received: number; link: string }[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const raw = readFileSync(file, 'utf8');
    if (!recipient.test(raw)) continue;
    const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
    const text = parts.find((p) => /Content-Type: text\/plain/i.test(p)) ?? raw;
    const encoding = /Content-Transfer-Encoding: ([^\r\n]+)/i.exec(text)?.[1] ?? '7bit';
    const body = decode(text.split(/\r?\n\r?\n/).slice(1).join('\n\n'), encoding);
    const link = new RegExp(`https?://\\S+/${kind}/[0-9a-f]{64}`).exec(body)?.[0];
    const date = Date.parse(/^Date: (.+)$/mi.exec(raw)?.[1] ?? '') || 0;
    // Date has whole seconds only; within one, the order the files were written in decides.
    if (link) links.push({ at: date, received: statSync(file).mtimeMs, link });
  }
  return links.sort((a, b) => a.at - b.at || a.received - b.received).map((l) => l.link);
}

/** Waits until at least `count` invitation links were mailed to `to`; returns them all, oldest first. */
export async function waitForLinks(to: string, count: number, kind: 'invite' | 'access' = 'invite'): Promise<string[]> {
  await expect.poll(() => mailedLinks(to, kind).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  return mailedLinks(to, kind);
}

// --- Database -----------------------------------------------------------------------------------

/** Runs SQL against the e2e server's embedded database (to age an invitation). */
export function sql(statement: string, dir = dataDir) {
  const url = execFileSync(rollcallBin, ['db', 'url'], {
    env: { ...process.env, ROLLCALL_DATA_DIR: join(repo, dir), RUST_LOG: 'warn' },
  })
    .toString()
    .trim();
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', statement]);
}

/** `select id from orgs where slug = ...`, for scoping a `sql()` statement to one test's workspace. */
export function orgIdOf(workspace: Workspace): string {
  if (!/^[a-z0-9-]+$/.test(workspace.slug)) throw new Error(`unexpected slug ${workspace.slug}`);
  return `(select id from orgs where slug = '${workspace.slug}')`;
}

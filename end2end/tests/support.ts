import AxeBuilder from '@axe-core/playwright';
import { expect, Page } from '@playwright/test';

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

export const ADMIN = { email: 'ada@acme.test', password: 'correct horse battery staple' };
export const MEMBER = { email: 'mo@acme.test', password: 'member password 123' };

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const repo = join(__dirname, '..', '..');

/** Decodes a quoted-printable or 7bit MIME body enough to find links in it. */
function decode(body: string, encoding: string): string {
  if (/quoted-printable/i.test(encoding)) {
    return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  }
  if (/base64/i.test(encoding)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/** Every invitation link mailed to `to`, oldest first, as the SMTP server received them. */
export function mailedLinks(to: string): string[] {
  const dir = join(repo, 'target', 'e2e-mail', 'new');
  if (!existsSync(dir)) return [];
  const mails = readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .filter((raw) => new RegExp(`^To: ${to.replace('.', '\\.')}\\s*$`, 'mi').test(raw));
  const links: { at: number; link: string }[] = [];
  for (const raw of mails) {
    const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
    const text = parts.find((p) => /Content-Type: text\/plain/i.test(p)) ?? raw;
    const encoding = /Content-Transfer-Encoding: ([^\r\n]+)/i.exec(text)?.[1] ?? '7bit';
    const body = decode(text.split(/\r?\n\r?\n/).slice(1).join('\n\n'), encoding);
    const link = /https?:\/\/\S+\/invite\/[0-9a-f]{64}/.exec(body)?.[0];
    const date = Date.parse(/^Date: (.+)$/mi.exec(raw)?.[1] ?? '') || 0;
    if (link) links.push({ at: date, link });
  }
  return links.sort((a, b) => a.at - b.at).map((l) => l.link);
}

/** Runs SQL against the e2e server's embedded database (to age an invitation). */
export function sql(statement: string) {
  const url = execFileSync(join(repo, 'target/debug/rollcall'), ['db', 'url'], {
    env: { ...process.env, ROLLCALL_DATA_DIR: join(repo, 'target/e2e-data'), RUST_LOG: 'warn' },
  })
    .toString()
    .trim();
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', statement]);
}

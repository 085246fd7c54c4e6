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

export const ADMIN = { email: 'ada@acme.test', password: 'correct horse battery staple' };
export const MEMBER = { email: 'mo@acme.test', password: 'member password 123' };
